"""Scoped links (contract v3) against a real `warroom web` process, Redis and database:
the links API, a masked wall that never receives an amount (socket, HTML, APIs), a host
link that reads only its own seller, revocation that closes sockets (live and replay)
within 2 s, tokens stored only as keyed hashes, and bad input refused."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from tests.browser.live import Stack, WsClient, fresh_settings, iso, live_stack, order, ws_url
from tests.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="module")
AUTH = {"Authorization": f"Bearer {ADMIN}"}

# Amounts chosen so that each one's digits are distinctive in any text.
TARGET_BASE = 87_654_300
TARGET_STRETCH = 123_456_700
MILESTONES = [23_456_700, 54_321_900]
BUDGET = 3_141_500
ORDERS = [1_234_567, 2_345_678, 3_456_789, 987_653]
RED_PACKET = 7_654_321


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("links")
    settings = fresh_settings(redis_url, database_url, tmp)
    async with live_stack(settings, tmp, env={"WARROOM_WS_FRAMES_PER_S": "4"}) as s:
        yield s


def client(stack: Stack) -> httpx.AsyncClient:
    assert stack.client is not None
    return stack.client


async def make_link(stack: Stack, slug: str, **body: Any) -> dict[str, Any]:
    res = await client(stack).post(f"/api/v1/campaigns/{slug}/links", json=body, headers=AUTH)
    assert res.status_code == 201, res.text
    return res.json()


async def links_of(stack: Stack, slug: str) -> list[dict[str, Any]]:
    res = await client(stack).get(f"/api/v1/campaigns/{slug}/links", headers=AUTH)
    assert res.status_code == 200, res.text
    rows: list[dict[str, Any]] = res.json()
    return rows


def money_texts(amounts: list[int]) -> set[str]:
    """Every way an amount could be written: fen, yuan, 万 (as the formatters do)."""
    out: set[str] = set()
    for fen in amounts:
        yuan = fen / 100
        out |= {str(fen), f"{yuan:,.2f}", f"{yuan:.2f}", f"{fen // 100:,}"}
        wan = yuan / 10_000
        for d in (1, 2):
            text = f"{wan:.{d}f}".rstrip("0").rstrip(".")
            if len(text.replace(".", "")) >= 3:
                out.add(text + "万")
    return out


def amounts_in(text: str, amounts: list[int]) -> list[str]:
    # texts of 5 characters or more: "777" would be found inside any epoch millisecond
    found = [t for t in money_texts(amounts) if len(t) >= 5 and t in text]
    found += re.findall(r"[¥￥]\s?\d", text)
    return found


def fen_values(value: Any, path: str = "") -> list[str]:
    """Any `*_fen` key with a value, anywhere in a decoded JSON document."""
    hits: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).endswith("_fen") and v is not None:
                hits.append(f"{path}.{k}={v}")
            hits += fen_values(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            hits += fen_values(v, f"{path}[{i}]")
    return hits


async def sale(stack: Stack, slug: str, **kw: Any) -> dict[str, str]:
    return await stack.create_campaign(
        slug=slug,
        target_base_fen=TARGET_BASE,
        target_stretch_fen=TARGET_STRETCH,
        milestones_fen=MILESTONES,
        stimulus_budget_fen=BUDGET,
        **kw,
    )


async def test_links_api_create_list_revoke(stack: Stack) -> None:
    c = await sale(stack, "api")
    wall = await make_link(stack, "api", kind="wall", masked=False, label="大厅大屏")
    assert set(wall) >= {"id", "kind", "url", "token"}
    assert wall["url"].startswith(stack.web.url + "/c/api?token=")
    assert wall["token"].startswith("lk_") and wall["token"] in wall["url"]
    host = await make_link(stack, "api", kind="host", masked=False, seller_id="s1")
    assert "/c/api/host?token=" in host["url"]
    review = await make_link(stack, "api", kind="review", masked=False)
    assert "/c/api/review?token=" in review["url"]

    listed = await links_of(stack, "api")
    assert [x["id"] for x in listed] == [wall["id"], host["id"], review["id"]]
    assert all("token" not in x and "url" not in x for x in listed)
    assert wall["token"] not in orjson.dumps(listed).decode()
    assert listed[0]["last_used_at"] is None and listed[0]["state"] == "active"

    page = await client(stack).get(wall["url"].removeprefix(stack.web.url))
    assert page.status_code == 200
    used = {x["id"]: x for x in await links_of(stack, "api")}
    assert used[wall["id"]]["last_used_at"] is not None

    res = await client(stack).delete(f"/api/v1/campaigns/api/links/{wall['id']}", headers=AUTH)
    assert res.status_code == 200 and res.json()["revoked"] is True
    again = await client(stack).get(f"/api/v1/campaigns/api/snapshot?token={wall['token']}")
    assert again.status_code == 401
    assert {x["id"]: x["state"] for x in await links_of(stack, "api")}[wall["id"]] == "revoked"
    # another campaign's link id: not found, nothing revoked
    other = await sale(stack, "api2")
    res = await client(stack).delete(f"/api/v1/campaigns/api2/links/{host['id']}", headers=AUTH)
    assert res.status_code == 404
    assert {x["id"]: x["state"] for x in await links_of(stack, "api")}[host["id"]] == "active"
    # a link opens only its own campaign
    res = await client(stack).get(f"/c/api2/host?token={host['token']}")
    assert res.status_code == 401
    # the v1 viewer token keeps its full capability
    for path in ("/c/api", "/c/api/host", "/c/api/review", "/api/v1/campaigns/api"):
        assert (await client(stack).get(f"{path}?token={c['viewer_token']}")).status_code == 200
    assert other["viewer_token"]


async def test_masked_wall_never_receives_an_amount(stack: Stack) -> None:
    c = await sale(stack, "mask")
    link = await make_link(stack, "mask", kind="wall", masked=True)
    token = link["token"]
    amounts = [TARGET_BASE, TARGET_STRETCH, *MILESTONES, BUDGET, *ORDERS, RED_PACKET]
    async with WsClient(ws_url(stack.web, "mask", token)) as v:
        await v.wait_for(lambda f: f["type"] == "snapshot")
        running = 0
        for i, amount in enumerate(ORDERS):
            await stack.post("mask", c["ingest_token"], [order(f"o{i}", amount, f"s{i % 2}")])
            running += amount
            amounts.append(running)
            await asyncio.sleep(0.3)
        await stack.settle("mask", c["viewer_token"], running)
        await stack.push_report("mask", 1, "🎉 突破 ¥23.46万！成交 ¥80.24万，冲！")
        await stack.runtime.hot.replace_feed(
            "mask",
            "stimuli",
            [
                {
                    "id": 9,
                    "rule": "slump",
                    "kind": "red_packet_rain",
                    "at": iso(datetime.now(UTC)),
                    "amount_fen": RED_PACKET,
                    "text": "红包雨 ¥76,543.21 马上开抢",
                    "uplift": None,
                }
            ],
        )
        await v.wait_for(lambda f: f["type"] == "report")
        await v.wait_for(lambda f: f["type"] == "update" and f["totals"]["orders"] == 4)
        await v.wait_for(lambda f: f["type"] == "stimulus")
        await asyncio.sleep(0.6)
        frames = list(v.frames)
    assert {f["type"] for f in frames} >= {"snapshot", "update", "report", "stimulus"}
    snap = next(f for f in frames if f["type"] == "snapshot")
    assert snap["masked"] is True
    for f in frames:
        text = orjson.dumps(f).decode()
        assert not fen_values(f), fen_values(f)
        assert not amounts_in(text, amounts), (amounts_in(text, amounts), f["type"])
    last = [f for f in frames if f["type"] == "update"][-1]
    assert last["totals"]["orders"] == 4
    assert last["totals"]["gmv_share"] == round(running / TARGET_BASE, 4)

    # the same wall unmasked does receive the figures (the scan would see them)
    async with WsClient(ws_url(stack.web, "mask", c["viewer_token"])) as full:
        first = await full.wait_for(lambda f: f["type"] == "snapshot")
        assert first["totals"]["gmv_fen"] == running
        assert amounts_in(orjson.dumps(first).decode(), amounts)

    http = client(stack)
    q = f"token={token}"
    for path in (
        f"/c/mask?{q}",
        f"/c/mask/chart?{q}",
        f"/api/v1/campaigns/mask/snapshot?{q}",
        f"/api/v1/campaigns/mask/reports?{q}",
        f"/api/v1/campaigns/mask/stimuli?{q}",
        f"/api/v1/campaigns/mask/groups/summary?{q}",
    ):
        res = await http.get(path)
        assert res.status_code == 200, (path, res.status_code, res.text[:200])
        assert not amounts_in(res.text, amounts), (path, amounts_in(res.text, amounts))
        if res.headers["content-type"].startswith("application/json"):
            assert not fen_values(res.json()), (path, fen_values(res.json()))
    assert 'data-fen=""' in (await http.get(f"/c/mask?{q}")).text
    # a masked URL edited to ask for more still gets the masked screen
    edited = await http.get(f"/c/mask?{q}&mask=0")
    assert not amounts_in(edited.text, amounts)
    # what a wall does not open: exports, group rows, settings, the host page, review
    for path in (
        "/api/v1/campaigns/mask/export/sellers.csv",
        "/api/v1/campaigns/mask/groups",
        "/api/v1/campaigns/mask",
        "/c/mask/host",
        "/c/mask/review",
    ):
        res = await http.get(f"{path}?{q}")
        assert res.status_code in (401, 403), (path, res.status_code)
        assert not amounts_in(res.text, amounts), path


async def test_host_link_reads_only_its_seller(stack: Stack) -> None:
    c = await sale(stack, "host")
    await stack.post(
        "host",
        c["ingest_token"],
        [
            order("h1", 500_000, "s1", seller_name="阿芳"),
            order("h2", 900_000, "s2", seller_name="老周"),
        ],
    )
    await stack.settle("host", c["viewer_token"], 1_400_000)
    link = await make_link(stack, "host", kind="host", masked=False, seller_id="s1")
    http = client(stack)
    q = f"token={link['token']}"
    page = await http.get(f"/c/host/host?{q}")
    assert page.status_code == 200
    assert "阿芳" in page.text
    # asking for another seller's card still shows its own
    other = await http.get(f"/c/host/host/seller?{q}&seller=s2")
    assert other.status_code == 200
    assert "seller=s1" in other.text and "seller=s2" not in other.text
    assert "<bdi>阿芳</bdi>" in other.text and "<bdi>老周</bdi> ·" not in other.text
    for path in (
        "/api/v1/campaigns/host/export/sellers.csv",
        "/api/v1/campaigns/host/export/events.csv",
        "/api/v1/campaigns/host/groups",
        "/api/v1/campaigns/host/groups/summary",
        "/api/v1/campaigns/host/membership",
        "/api/v1/campaigns/host",
        "/api/v1/campaigns/host/snapshot",
        "/c/host/review",
        "/c/host",
    ):
        res = await http.get(f"{path}?{q}")
        assert res.status_code in (401, 403, 404), (path, res.status_code)
    # settings and links stay the admin's: a link token is no admin credential
    res = await http.patch(
        "/api/v1/campaigns/host",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {link['token']}"},
    )
    assert res.status_code == 401
    res = await http.get(
        "/api/v1/campaigns/host/links", headers={"Authorization": f"Bearer {link['token']}"}
    )
    assert res.status_code == 401
    # what it may read: the feed, its socket
    assert (await http.get(f"/api/v1/campaigns/host/reports?{q}")).status_code == 200
    async with WsClient(ws_url(stack.web, "host", link["token"], "&lite=1")) as v:
        await v.wait_for(lambda f: f["type"] == "snapshot")

    review = await make_link(stack, "host", kind="review", masked=False)
    rq = f"token={review['token']}"
    assert (await http.get(f"/c/host/review?{rq}")).status_code == 200
    csv = await http.get(f"/api/v1/campaigns/host/export/sellers.csv?{rq}")
    assert csv.status_code == 200 and "net_gmv_fen" in csv.text
    for path in ("/c/host/host", "/api/v1/campaigns/host"):
        assert (await http.get(f"{path}?{rq}")).status_code in (401, 403), path
    res = await http.post(
        "/api/v1/campaigns/host/stimuli",
        json={},
        headers={"Authorization": f"Bearer {review['token']}"},
    )
    assert res.status_code == 401  # read only


async def closed_within(v: WsClient, seconds: float) -> float:
    """Seconds until the socket is closed (by a close frame or a dropped connection)."""
    started = time.monotonic()
    assert v._task is not None
    done, _ = await asyncio.wait({v._task}, timeout=seconds)
    assert done, f"still open after {seconds} s"
    return time.monotonic() - started


async def test_revoking_closes_its_sockets_within_2s(stack: Stack) -> None:
    c = await sale(stack, "revoke")
    wall = await make_link(stack, "revoke", kind="wall", masked=False)
    masked = await make_link(stack, "revoke", kind="wall", masked=True)
    async with (
        WsClient(ws_url(stack.web, "revoke", wall["token"])) as a,
        WsClient(ws_url(stack.web, "revoke", masked["token"])) as b,
        WsClient(ws_url(stack.web, "revoke", c["viewer_token"])) as keep,
    ):
        for v in (a, b, keep):
            await v.wait_for(lambda f: f["type"] == "snapshot")
        for link, v in ((wall, a), (masked, b)):
            res = await client(stack).delete(
                f"/api/v1/campaigns/revoke/links/{link['id']}", headers=AUTH
            )
            assert res.status_code == 200
            assert await closed_within(v, 2.0) < 2.0
        assert keep._task is not None and not keep._task.done()
    with pytest.raises(Exception):  # noqa: B017 - refused at the handshake
        async with WsClient(ws_url(stack.web, "revoke", wall["token"])):
            pass


async def test_revoking_closes_a_replay_within_2s(stack: Stack) -> None:
    now = datetime.now(UTC)
    await sale(
        stack,
        "past",
        starts_at=iso(now - timedelta(hours=3)),
        ends_at=iso(now - timedelta(hours=1)),
    )
    review = await make_link(stack, "past", kind="review", masked=False)
    async with WsClient(ws_url(stack.web, "past", review["token"], "&replay=1")) as v:
        await v.wait_for(lambda f: f["type"] == "snapshot", timeout=10)
        res = await client(stack).delete(
            f"/api/v1/campaigns/past/links/{review['id']}", headers=AUTH
        )
        assert res.status_code == 200
        assert await closed_within(v, 2.0) < 2.0


async def test_no_token_plaintext_in_the_database(stack: Stack) -> None:
    await sale(stack, "plain")
    tokens = [
        (await make_link(stack, "plain", kind=k, masked=False, **extra))["token"]
        for k, extra in (("wall", {}), ("host", {"seller_id": "s1"}), ("review", {}))
    ]
    if stack.settings.database_url and stack.settings.database_url.startswith("postgresql"):
        from sqlalchemy import text

        with stack.runtime.store.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM campaign_link")).all()
        dump = repr(rows)
    else:
        data = stack.settings.warroom_data_dir
        db = Path(str(stack.settings.effective_database_url).removeprefix("sqlite:///"))
        files = [p for p in db.parent.glob(db.name + "*") if p.is_file()]
        assert files, data
        dump = b"".join(p.read_bytes() for p in files).decode("latin-1")
    for token in tokens:
        assert token not in dump
        assert token.removeprefix("lk_") not in dump


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"kind": "screen", "masked": False}, 422, "kind"),
        ({"kind": "host", "masked": False}, 422, "seller_id"),
        ({"kind": "wall", "masked": "yes"}, 422, "masked"),
        ({"kind": "host", "masked": False, "seller_id": 5}, 422, "seller_id"),
        ({"kind": "wall", "seller_id": "s1"}, 422, "seller_id"),
        ({"kind": "review", "masked": True}, 422, "masked"),
        ({"kind": "wall", "expires_at": "2020-01-01T00:00:00+08:00"}, 422, "past"),
        ({"kind": "wall", "expires_at": "tomorrow"}, 422, "expires_at"),
        ({"kind": "wall", "expires_at": "2030-01-01T00:00:00"}, 422, "offset"),
        ({"kind": "host", "seller_id": "s1\u202e\u0000"}, 422, "seller_id"),
        ({"kind": "wall", "label": "大屏\u202egnp.exe"}, 422, "label"),
        ({"kind": "wall", "label": "x" * 101}, 422, "label"),
        ({"kind": "wall", "extra": 1}, 422, "extra"),
    ],
)
async def test_bad_link_requests_change_nothing(
    stack: Stack, body: dict[str, Any], status: int, says: str
) -> None:
    slug = "badlinks"
    if (await client(stack).get(f"/api/v1/campaigns/{slug}", headers=AUTH)).status_code == 404:
        await sale(stack, slug)
    before = await links_of(stack, slug)
    res = await client(stack).post(f"/api/v1/campaigns/{slug}/links", json=body, headers=AUTH)
    assert res.status_code == status, res.text
    assert says in res.json()["error"], res.text
    assert await links_of(stack, slug) == before


async def test_links_need_the_admin(stack: Stack) -> None:
    c = await sale(stack, "noadmin")
    http = client(stack)
    for headers in ({}, {"Authorization": f"Bearer {c['viewer_token']}"}):
        res = await http.post(
            "/api/v1/campaigns/noadmin/links", json={"kind": "wall"}, headers=headers
        )
        assert res.status_code == 401
    res = await http.post("/api/v1/campaigns/nosuch/links", json={"kind": "wall"}, headers=AUTH)
    assert res.status_code == 404
    res = await http.post("/api/v1/campaigns/noadmin/links", content=b"not json", headers=AUTH)
    assert res.status_code == 400
    assert await links_of(stack, "noadmin") == []


async def test_expired_link_is_refused(stack: Stack) -> None:
    await sale(stack, "expire")
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    link = await make_link(stack, "expire", kind="wall", expires_at=iso(soon))
    q = f"token={link['token']}"
    assert (await client(stack).get(f"/api/v1/campaigns/expire/snapshot?{q}")).status_code == 200
    await asyncio.sleep(2.0)
    assert (await client(stack).get(f"/api/v1/campaigns/expire/snapshot?{q}")).status_code == 401
    assert (await links_of(stack, "expire"))[0]["state"] == "expired"
