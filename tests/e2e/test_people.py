"""People, API keys and the audit by person (issue 18), in-process against real Redis
and SQL: sign-in with email and password, sessions that end on sign-out, removal and
password change, roles that take effect at once, keys that work where the admin token
does within their role, bad input refused with nothing changed, no secret in the
database file or the logs, and an audit that names who did each change."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Harness
from tests.e2e.test_console import HOSTILE, csrf_of

ROOT = Path(__file__).resolve().parents[2]
OWNER_H = {"Authorization": f"Bearer {ADMIN}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def add_user(
    h: Harness, email: str, role: str, password: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "role": role}
    if password is not None:
        body["password"] = password
    res = await h.client.post("/api/v1/users", json=body, headers=OWNER_H)
    assert res.status_code == 201, res.text
    return res.json()


async def add_key(h: Harness, name: str, role: str) -> dict[str, Any]:
    res = await h.client.post("/api/v1/keys", json={"name": name, "role": role}, headers=OWNER_H)
    assert res.status_code == 201, res.text
    return res.json()


class Browser(httpx.AsyncClient):
    """A client already in use that `async with` closes at the end."""

    async def __aenter__(self) -> Browser:
        return self


async def person_client(h: Harness, email: str, password: str) -> tuple[Browser, str]:
    """A browser of its own, signed in as this person: (client, CSRF token)."""
    c = Browser(transport=httpx.ASGITransport(app=h.app), base_url="http://testserver")
    res = await c.post("/admin/login", data={"email": email, "password": password})
    assert res.status_code == 303, res.text
    home = await c.get("/admin")
    assert home.status_code == 200
    return c, csrf_of(home.text)


async def still_signed_in(c: httpx.AsyncClient) -> bool:
    res = await c.get("/admin/new")
    return res.status_code == 200


async def test_owner_adds_a_person_who_signs_in_with_email_and_password(harness: Harness) -> None:
    h = harness
    made = await add_user(h, "  Ann@Example.COM ", "operator")
    assert set(made) == {"id", "email", "role", "password"}
    assert made["email"] == "ann@example.com" and made["role"] == "operator"
    given = await add_user(h, "bo@example.com", "analyst", password="correct horse battery")
    assert "password" not in given  # none made: none shown
    listed = (await h.client.get("/api/v1/users", headers=OWNER_H)).json()
    assert [(u["email"], u["role"]) for u in listed] == [
        ("ann@example.com", "operator"),
        ("bo@example.com", "analyst"),
    ]
    assert all("password" not in u and "password_hash" not in u for u in listed)

    bad = await h.client.post("/admin/login", data={"email": "ann@example.com", "password": "x"})
    assert bad.status_code == 401 and "邮箱或密码不正确" in bad.text
    assert "wr_console" not in bad.headers.get("set-cookie", "")
    nobody = await h.client.post(
        "/admin/login", data={"email": "nobody@example.com", "password": made["password"]}
    )
    assert nobody.status_code == 401 and "邮箱或密码不正确" in nobody.text

    c, _ = await person_client(h, "ANN@example.com", made["password"])
    async with c:
        home = await c.get("/admin")
        assert "ann@example.com" in home.text and "运营" in home.text
        assert "人员与密钥" not in home.text  # not an owner
    c2, _ = await person_client(h, "bo@example.com", "correct horse battery")
    await c2.aclose()


async def test_the_admin_token_still_opens_everything(harness: Harness) -> None:
    """The break-glass owner: console sign-in and the API, people included."""
    c = harness.client
    res = await c.post("/admin/login", data={"token": ADMIN})
    assert res.status_code == 303
    page = await c.get("/admin/people")
    assert page.status_code == 200 and "人员与密钥" in page.text
    csrf = csrf_of(page.text)
    res = await c.post(
        "/admin/people", data={"email": "first@example.com", "role": "owner", "csrf_token": csrf}
    )
    assert res.status_code == 200 and 'id="one-time-password"' in res.text
    m = re.search(r'readonly value="([^"]+)" id="made-password"', res.text)
    assert m, res.text
    password = m.group(1)
    assert len(password) >= 10
    again = await c.get("/admin/people")  # shown once: not on the next visit
    assert password not in again.text
    c2, _ = await person_client(harness, "first@example.com", password)
    async with c2:
        assert (await c2.get("/admin/people")).status_code == 200  # an owner


BAD_USERS: list[tuple[str, Any, int]] = [
    ("malformed JSON", b'{"email": "a@b.cn", "role": ', 400),
    ("not an object", b'["a@b.cn", "owner"]', 400),
    ("email not a string", {"email": 5, "role": "owner"}, 422),
    ("role not a string", {"email": "a@b.cn", "role": ["owner"]}, 422),
    ("password not a string", {"email": "a@b.cn", "role": "owner", "password": 1234567890}, 422),
    ("bad email", {"email": "not-an-email", "role": "owner"}, 422),
    ("two @", {"email": "a@b@c.cn", "role": "owner"}, 422),
    ("unknown role", {"email": "a@b.cn", "role": "admin"}, 422),
    ("missing role", {"email": "a@b.cn"}, 422),
    ("extra field", {"email": "a@b.cn", "role": "owner", "is_admin": True}, 422),
    ("short password", {"email": "a@b.cn", "role": "owner", "password": "short"}, 422),
    ("html email", {"email": "<script>alert(1)</script>@x.cn", "role": "owner"}, 422),
    ("emoji email", {"email": "🎉@x.cn", "role": "owner"}, 422),
    ("rtl email", {"email": "\u202eevil@x.cn", "role": "owner"}, 422),
    ("hostile email", {"email": HOSTILE, "role": "owner"}, 422),
    ("duplicate email", {"email": "Taken@Example.com", "role": "analyst"}, 409),
]

BAD_KEYS: list[tuple[str, Any, int]] = [
    ("malformed JSON", b'{"name": ', 400),
    ("name not a string", {"name": 7, "role": "analyst"}, 422),
    ("unknown role", {"name": "erp", "role": "root"}, 422),
    ("empty name", {"name": "  ", "role": "analyst"}, 422),
    ("long name", {"name": "x" * 61, "role": "analyst"}, 422),
    ("html name", {"name": "<img src=x onerror=alert(1)>", "role": "analyst"}, 422),
    ("emoji name", {"name": "sync 🎉", "role": "analyst"}, 422),
    ("rtl name", {"name": "sync\u202egnp", "role": "analyst"}, 422),
    ("extra field", {"name": "erp", "role": "analyst", "key": "mine"}, 422),
]


async def post_raw(c: httpx.AsyncClient, url: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        headers = {**OWNER_H, "Content-Type": "application/json"}
        return await c.post(url, content=body, headers=headers)
    return await c.post(url, json=body, headers=OWNER_H)


async def test_bad_input_is_refused_clearly_and_changes_nothing(harness: Harness) -> None:
    h = harness
    await add_user(h, "taken@example.com", "owner")
    before = (await h.client.get("/api/v1/users", headers=OWNER_H)).json()
    for what, body, status in BAD_USERS:
        res = await post_raw(h.client, "/api/v1/users", body)
        assert res.status_code == status, (what, res.text)
        assert res.json()["error"], what  # a readable reason
    assert (await h.client.get("/api/v1/users", headers=OWNER_H)).json() == before
    for what, body, status in BAD_KEYS:
        res = await post_raw(h.client, "/api/v1/keys", body)
        assert res.status_code == status, (what, res.text)
    assert (await h.client.get("/api/v1/keys", headers=OWNER_H)).json() == []
    # role changes and removals of what is not there
    uid = before[0]["id"]
    for method, url, body, status in (
        ("PATCH", f"/api/v1/users/{uid}", {"role": "god"}, 422),
        ("PATCH", f"/api/v1/users/{uid}", {"role": 3}, 422),
        ("PATCH", "/api/v1/users/999", {"role": "analyst"}, 404),
        ("PATCH", "/api/v1/users/abc", {"role": "analyst"}, 422),
        ("DELETE", "/api/v1/users/999", None, 404),
        ("DELETE", "/api/v1/keys/999", None, 404),
    ):
        res = await h.client.request(method, url, json=body, headers=OWNER_H)
        assert res.status_code == status, (method, url, res.text)
    # the last owner stays
    res = await h.client.delete(f"/api/v1/users/{uid}", headers=OWNER_H)
    assert res.status_code == 409 and "last owner" in res.text
    res = await h.client.patch(f"/api/v1/users/{uid}", json={"role": "analyst"}, headers=OWNER_H)
    assert res.status_code == 409
    assert (await h.client.get("/api/v1/users", headers=OWNER_H)).json() == before
    # the console's form says why, in Chinese, and keeps what was typed
    c = h.client
    await c.post("/admin/login", data={"token": ADMIN})
    csrf = csrf_of((await c.get("/admin/people")).text)
    res = await c.post(
        "/admin/people", data={"email": HOSTILE, "role": "operator", "csrf_token": csrf}
    )
    assert res.status_code == 422 and 'id="person-error"' in res.text
    assert "<script>" not in res.text and "&lt;script&gt;" in res.text
    res = await c.post("/admin/keys", data={"name": HOSTILE, "role": "analyst", "csrf_token": csrf})
    assert res.status_code == 422 and 'id="key-error"' in res.text and "<img" not in res.text
    assert (await h.client.get("/api/v1/users", headers=OWNER_H)).json() == before


async def test_sessions_end_on_sign_out_removal_and_password_change(harness: Harness) -> None:
    h = harness
    await add_user(h, "owner@example.com", "owner", password="owner password 1")
    made = await add_user(h, "cy@example.com", "operator")
    laptop, csrf = await person_client(h, "cy@example.com", made["password"])
    phone, _ = await person_client(h, "cy@example.com", made["password"])
    spare, spare_csrf = await person_client(h, "cy@example.com", made["password"])
    async with laptop, phone, spare:
        # sign-out ends that session only
        assert (
            await spare.post("/admin/logout", data={"csrf_token": spare_csrf})
        ).status_code == 303
        spare.cookies.clear()
        assert not await still_signed_in(spare)
        assert await still_signed_in(laptop) and await still_signed_in(phone)

        # a wrong current password changes nothing
        res = await laptop.post(
            "/admin/account/password",
            data={
                "csrf_token": csrf,
                "current_password": "wrong one!!",
                "new_password": "a brand new secret",
                "new_password_again": "a brand new secret",
            },
        )
        assert res.status_code == 403 and "当前密码不正确" in res.text
        assert await still_signed_in(phone)
        # the right one: every other session ends, this browser stays in
        res = await laptop.post(
            "/admin/account/password",
            data={
                "csrf_token": csrf,
                "current_password": made["password"],
                "new_password": "a brand new secret",
                "new_password_again": "a brand new secret",
            },
        )
        assert res.status_code == 200 and 'id="password-saved"' in res.text, res.text
        assert not await still_signed_in(phone)
        assert await still_signed_in(laptop)
        old = await h.client.post(
            "/admin/login", data={"email": "cy@example.com", "password": made["password"]}
        )
        assert old.status_code == 401
        h.client.cookies.clear()

        # removal ends the rest
        uid = made["id"]
        res = await h.client.delete(f"/api/v1/users/{uid}", headers=OWNER_H)
        assert res.status_code == 200
        assert not await still_signed_in(laptop)
        gone = await h.client.post(
            "/admin/login", data={"email": "cy@example.com", "password": "a brand new secret"}
        )
        assert gone.status_code == 401


async def test_a_role_change_takes_effect_at_once(harness: Harness) -> None:
    h = harness
    # live: a pause after the campaign's end is refused (409) whatever the role
    await h.create_campaign(starts_at="2020-01-01T00:00:00Z", ends_at="2099-01-01T00:00:00Z")
    made = await add_user(h, "di@example.com", "analyst")
    c, csrf = await person_client(h, "di@example.com", made["password"])
    async with c:
        page = await c.get("/admin/c/sale/settings")
        assert page.status_code == 200  # an analyst reads
        res = await c.post("/admin/c/sale/pause", data={"paused": "1", "csrf_token": csrf})
        assert res.status_code == 403 and "只能查看" in res.text
        assert not (await h.runtime.campaigns.get("sale")).settings.rules_paused
        res = await h.client.patch(
            f"/api/v1/users/{made['id']}", json={"role": "operator"}, headers=OWNER_H
        )
        assert res.status_code == 200 and res.json()["role"] == "operator"
        res = await c.post("/admin/c/sale/pause", data={"paused": "1", "csrf_token": csrf})
        assert res.status_code == 200
        assert (await h.runtime.campaigns.get("sale")).settings.rules_paused
        assert (await c.get("/admin/people")).status_code == 403  # not an owner


async def test_api_keys_work_where_the_admin_token_does_within_their_role(
    harness: Harness,
) -> None:
    h = harness
    created = await h.create_campaign()
    reader = await add_key(h, "看板同步", "analyst")
    ops = await add_key(h, "ERP sync (prod)", "operator")
    assert set(reader) == {"id", "name", "role", "key"} and reader["key"].startswith("wrk_")
    listed = (await h.client.get("/api/v1/keys", headers=OWNER_H)).json()
    assert [k["name"] for k in listed] == ["看板同步", "ERP sync (prod)"]
    assert all("key" not in k and k["last_used_ms"] is None for k in listed)

    c = h.client
    r, o = bearer(reader["key"]), bearer(ops["key"])
    assert (await c.get("/api/v1/campaigns", headers=r)).status_code == 200
    assert (await c.get("/api/v1/campaigns/sale/snapshot", headers=r)).status_code == 200
    assert (await c.get("/api/v1/campaigns/sale/webhooks", headers=r)).status_code == 200
    res = await c.patch("/api/v1/campaigns/sale", json={"name": "改名"}, headers=r)
    assert res.status_code == 403 and "analyst" in res.json()["error"]
    res = await c.patch("/api/v1/campaigns/sale", json={"name": "改名"}, headers=o)
    assert res.status_code == 200 and res.json()["name"] == "改名"
    assert (await c.get("/api/v1/users", headers=o)).status_code == 403
    assert (
        await c.post("/api/v1/keys", json={"name": "x", "role": "owner"}, headers=o)
    ).status_code == 403
    assert (await c.get("/api/v1/audit", headers=o)).status_code == 403
    # the ingest token is still the only way in for events, and no key opens the console
    assert (await c.get("/admin/people", headers=o)).status_code == 303
    assert created["ingest_token"] != ops["key"]

    listed = (await c.get("/api/v1/keys", headers=OWNER_H)).json()
    assert all(k["last_used_ms"] for k in listed)
    await c.post("/admin/login", data={"token": ADMIN})
    page = await c.get("/admin/people")
    assert "从未使用" not in page.text and "看板同步" in page.text

    res = await c.delete(f"/api/v1/keys/{reader['id']}", headers=OWNER_H)
    assert res.status_code == 200
    assert (await c.get("/api/v1/campaigns", headers=r)).status_code == 401
    assert (await c.get("/api/v1/campaigns", headers=o)).status_code == 200


async def test_no_plaintext_password_or_key_in_the_database(harness: Harness) -> None:
    url = harness.runtime.settings.effective_database_url
    if not url.startswith("sqlite"):
        pytest.skip("reads the SQLite file's bytes")
    h = harness
    password = "plain-text-canary-Пароль"
    await add_user(h, "canary@example.com", "operator", password=password)
    made = await add_user(h, "made@example.com", "analyst")
    key = (await add_key(h, "canary key", "operator"))["key"]
    c, csrf = await person_client(h, "canary@example.com", password)
    async with c:
        new = "another-canary-секрет"
        data = {
            "csrf_token": csrf,
            "current_password": password,
            "new_password": new,
            "new_password_again": new,
        }
        assert (await c.post("/admin/account/password", data=data)).status_code == 200
    assert (await h.client.get("/api/v1/campaigns", headers=bearer(key))).status_code == 200
    path = Path(url.removeprefix("sqlite:///"))
    blob = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))
    assert b"$argon2id$" in blob  # the hashes are there ...
    for secret in (password, new, made["password"], key, key.removeprefix("wrk_")):
        assert secret.encode() not in blob, secret  # ... the secrets are not


async def test_no_password_in_the_logs(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness
    made = await add_user(h, "log@example.com", "operator")
    await h.client.post(
        "/admin/login", data={"email": "log@example.com", "password": "wrong-guess-123"}
    )
    await h.client.post(
        "/admin/login", data={"email": "log@example.com", "password": made["password"]}
    )
    key = (await add_key(h, "logkey", "analyst"))["key"]
    await h.client.get("/api/v1/campaigns", headers=bearer(key))
    text = caplog.text
    for secret in (made["password"], "wrong-guess-123", key):
        assert secret not in text


# -- the audit names the person ----------------------------------------------------------


async def audit(h: Harness, **q: str) -> list[dict[str, Any]]:
    res = await h.client.get("/api/v1/audit", params=q, headers=OWNER_H)
    assert res.status_code == 200, res.text
    return res.json()


async def test_the_audit_names_who_made_each_kind_of_change(harness: Harness) -> None:
    h = harness
    # by the admin token; live, so its pause is not refused as after the end
    await h.create_campaign(starts_at="2020-01-01T00:00:00Z", ends_at="2099-01-01T00:00:00Z")
    owner = await add_user(h, "own@example.com", "owner")  # by the admin token
    op = await add_user(h, "op@example.com", "operator")
    key = await add_key(h, "robot", "operator")

    # the operator, in the console: settings, rules, template, fire, pause, webhook, rotate
    c, csrf = await person_client(h, "op@example.com", op["password"])
    async with c:
        page = await c.get("/admin/c/sale/settings")
        from tests.e2e.test_console import form

        res = await c.post(
            "/admin/c/sale/settings",
            data=form(
                target_base_fen="2000000",
                target_stretch_fen="",
                ends_at="2099-01-01T00:00",  # still live: the fire and pause below
                csrf_token=csrf,
            ),
        )
        assert res.status_code == 200, res.text
        res = await c.post(
            "/admin/c/sale/rules",
            data={
                "csrf_token": csrf,
                "name": "floor",
                "metric": "gmv_per_min",
                "window_minutes": "5",
                "below_peak_ratio": "50",
                "floor": "",
                "sustain_minutes": "2",
                "cooldown_minutes": "10",
                "max_fires": "2",
                "kind": "announcement",
                "amount": "",
                "text": "冲",
            },
        )
        assert res.status_code == 200, res.text
        res = await c.post(
            "/admin/c/sale/templates/scheduled", data={"csrf_token": csrf, "reset": "1"}
        )
        assert res.status_code == 200, res.text
        res = await c.post("/admin/c/sale/pause", data={"paused": "1", "csrf_token": csrf})
        assert res.status_code == 200
        res = await c.post(
            "/admin/c/sale/tokens/rotate", data={"which": "viewer", "csrf_token": csrf}
        )
        assert res.status_code == 200, res.text
        assert page.status_code == 200
    # the key, on the API: a setting and a webhook
    k = bearer(key["key"])
    res = await h.client.patch("/api/v1/campaigns/sale", json={"name": "钥匙改的名"}, headers=k)
    assert res.status_code == 200
    res = await h.client.post(
        "/api/v1/campaigns/sale/webhooks",
        json={"url": "https://example.com/hook", "format": "json"},
        headers=k,
    )
    assert res.status_code == 201, res.text
    # the owner person, in the console: a role change and a key
    oc, ocsrf = await person_client(h, "own@example.com", owner["password"])
    async with oc:
        res = await oc.post(
            f"/admin/people/{op['id']}/role", data={"role": "analyst", "csrf_token": ocsrf}
        )
        assert res.status_code == 200, res.text
        res = await oc.post(f"/admin/keys/{key['id']}/delete", data={"csrf_token": ocsrf})
        assert res.status_code == 200

    rows = await audit(h)
    seen = {(r["kind"], r["actor"]) for r in rows}
    expected = {
        ("create", "admin token"),
        ("user_add", "admin token"),
        ("key_add", "admin token"),
        ("update", "op@example.com"),
        ("rules", "op@example.com"),
        ("template", "op@example.com"),
        ("pause_rules", "op@example.com"),
        ("rotate", "op@example.com"),
        ("update", "key:robot"),
        ("webhook_add", "key:robot"),
        ("user_role", "own@example.com"),
        ("key_revoke", "own@example.com"),
    }
    assert expected <= seen, sorted(seen)
    # settings: before -> after
    upd = next(r for r in rows if r["kind"] == "update" and r["actor"] == "key:robot")
    assert upd["detail"]["changed"]["name"] == ["双十一社群快闪", "钥匙改的名"]
    assert upd["campaign"] == "sale" and upd["actor_kind"] == "key"
    by_op = next(r for r in rows if r["kind"] == "update" and r["actor"] == "op@example.com")
    assert by_op["detail"]["changed"]["target_base_fen"] == [100_000_000, 200_000_000]
    role = next(r for r in rows if r["kind"] == "user_role")
    assert role["detail"]["role"] == ["operator", "analyst"] and role["campaign"] is None

    # filters
    assert {r["actor"] for r in await audit(h, actor="op@example.com")} == {"op@example.com"}
    assert {r["kind"] for r in await audit(h, kind="rotate")} == {"rotate"}
    assert {r["campaign"] for r in await audit(h, campaign="sale")} == {"sale"}
    assert {r["campaign"] for r in await audit(h, campaign="-")} == {None}
    assert await audit(h, since="2999-01-01T00:00:00Z") == []
    assert len(await audit(h, since="0")) == len(rows)
    for bad in ({"since": "yesterday"}, {"limit": "0"}):
        res = await h.client.get("/api/v1/audit", params=bad, headers=OWNER_H)
        assert res.status_code == 422
    res = await h.client.get("/api/v1/audit", params={"campaign": "nope"}, headers=OWNER_H)
    assert res.status_code == 404

    # the console's audit page, filtered
    await h.client.post("/admin/login", data={"token": ADMIN})
    page = await h.client.get("/admin/audit", params={"actor": "key:robot"})
    assert page.status_code == 200
    assert "key:robot" in page.text and "op@example.com</bdi></td>" not in page.text
    assert "修改设置" in page.text and "钥匙改的名" in page.text


# -- the CLI -----------------------------------------------------------------------------


def cli(settings: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["WARROOM_DATA_DIR"] = str(settings.warroom_data_dir)
    env["DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [sys.executable, "-m", "warroom.cli", "user", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_first_owner_from_the_cli(harness: Harness) -> None:
    s = harness.runtime.settings
    made = cli(s, "add", "Boss@Example.com", "--role", "owner")
    assert made.returncode == 0, made.stderr
    m = re.search(r"one-time password: (\S+)", made.stdout)
    assert m and "boss@example.com (owner)" in made.stdout
    piped = cli(s, "add", "ops@example.com", "--role", "operator", "--password-stdin",
                stdin="piped secret 123\n")  # fmt: skip
    assert piped.returncode == 0 and "one-time password" not in piped.stdout
    for args in (("add", "not-an-email"), ("add", "boss@example.com")):
        bad = cli(s, *args)
        assert bad.returncode == 2 and "warroom user add:" in bad.stderr
    bad_role = cli(s, "add", "x@example.com", "--role", "root")
    assert bad_role.returncode != 0
    c, _ = await person_client(harness, "boss@example.com", m.group(1))
    await c.aclose()
    c, _ = await person_client(harness, "ops@example.com", "piped secret 123")
    await c.aclose()
    rows = await audit(harness, actor="cli")
    assert {r["detail"]["email"] for r in rows} == {"boss@example.com", "ops@example.com"}
