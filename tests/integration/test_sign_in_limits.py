"""Sign-in limits that hold under concurrency (issue 17, item 2), in-process against a
real Redis: wrong admin tokens are counted before they are answered, per client
address, so 200 at once get at most the limit of "wrong" answers and the rest 429;
the right token still works from another address; the API's admin bearer is limited
the same way. Issue 18: passwords per address and per account (a locked-out address
does not lock the person out elsewhere), and wrong API keys as wrong admin tokens."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.conftest import ADMIN, clean_settings, harness_for
from warroom.settings import ConsoleSettings, Settings

LIMIT = 10  # WARROOM_CONSOLE_MAX_FAILED_LOGINS' default
BURST = 200


@asynccontextmanager
async def client_from(app: object, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_concurrent_wrong_sign_ins_hold_the_limit(settings: Settings) -> None:
    async with harness_for(settings) as h:
        async with client_from(h.app, "203.0.113.7") as attacker:
            answers = await asyncio.gather(
                *(attacker.post("/admin/login", data={"token": f"guess{i}"}) for i in range(BURST))
            )
            codes = Counter(r.status_code for r in answers)
            assert codes[503] == 0, codes
            assert codes[401] <= LIMIT, codes  # at most the limit were checked
            assert codes[401] + codes[429] == BURST, codes
            for r in answers:
                if r.status_code == 429:
                    assert 1 <= int(r.headers["Retry-After"]) <= 60
            # The locked-out address hears 429 for the right token too ...
            again = await attacker.post("/admin/login", data={"token": ADMIN})
            assert again.status_code == 429
        # ... but the right token still signs in from elsewhere.
        async with client_from(h.app, "198.51.100.20") as operator:
            ok = await operator.post("/admin/login", data={"token": ADMIN})
            assert ok.status_code == 303, ok.text


async def test_admin_bearer_on_the_api_is_limited(settings: Settings) -> None:
    async with harness_for(settings) as h:
        async with client_from(h.app, "203.0.113.8") as attacker:
            answers = await asyncio.gather(
                *(
                    attacker.get("/api/v1/campaigns", headers={"Authorization": f"Bearer wrong{i}"})
                    for i in range(BURST)
                )
            )
            codes = Counter(r.status_code for r in answers)
            assert codes[503] == 0, codes
            assert codes[401] <= LIMIT, codes
            assert codes[401] + codes[429] == BURST, codes
            assert all("Retry-After" in r.headers for r in answers if r.status_code == 429)
            res = await attacker.get(
                "/api/v1/campaigns", headers={"Authorization": f"Bearer {ADMIN}"}
            )
            assert res.status_code == 429
        async with client_from(h.app, "2001:db8::1") as operator:
            res = await operator.get(
                "/api/v1/campaigns", headers={"Authorization": f"Bearer {ADMIN}"}
            )
            assert res.status_code == 200, res.text
            # The admin's own requests are not counted: many in a row stay 200.
            many = await asyncio.gather(
                *(
                    operator.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {ADMIN}"})
                    for _ in range(3 * LIMIT)
                )
            )
            assert {r.status_code for r in many} == {200}


async def test_no_bearer_is_not_counted(settings: Settings) -> None:
    async with harness_for(settings) as h, client_from(h.app, "203.0.113.9") as c:
        for _ in range(2 * LIMIT):
            assert (await c.get("/api/v1/campaigns")).status_code == 401
        res = await c.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {ADMIN}"})
        assert res.status_code == 200


async def test_the_window_is_a_setting_and_the_lock_ends_with_it(settings: Settings) -> None:
    """WARROOM_CONSOLE_FAILED_LOGIN_WINDOW_S: Retry-After never says more than the
    window, and once it has passed the right token signs in from the same address."""
    window = 2
    settings.console.failed_login_window_s = window
    async with harness_for(settings) as h, client_from(h.app, "203.0.113.10") as c:
        for i in range(LIMIT):
            assert (await c.post("/admin/login", data={"token": f"g{i}"})).status_code == 401
        locked = await c.post("/admin/login", data={"token": ADMIN})
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["Retry-After"]) <= window
        deadline = asyncio.get_running_loop().time() + 30  # generous; the window is 2 s
        while True:
            res = await c.post("/admin/login", data={"token": ADMIN})
            if res.status_code == 303:
                break
            assert res.status_code == 429, res.text
            assert asyncio.get_running_loop().time() < deadline, "still locked after 30 s"
            await asyncio.sleep(0.25)


# -- email and password (issue 18): per client address AND per account ------------------


async def add_person(h: object, email: str, password: str) -> None:
    res = await h.client.post(  # type: ignore[attr-defined]
        "/api/v1/users",
        json={"email": email, "role": "operator", "password": password},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert res.status_code == 201, res.text


RIGHT = "the right password"


async def test_wrong_passwords_lock_the_address_not_the_person(settings: Settings) -> None:
    async with harness_for(settings) as h:
        await add_person(h, "ann@example.com", RIGHT)
        async with client_from(h.app, "203.0.113.30") as attacker:
            answers = await asyncio.gather(
                *(
                    attacker.post(
                        "/admin/login", data={"email": "ann@example.com", "password": f"guess{i}"}
                    )
                    for i in range(BURST // 4)
                )
            )
            codes = Counter(r.status_code for r in answers)
            assert codes[401] <= LIMIT and codes[401] + codes[429] == BURST // 4, codes
            right = await attacker.post(
                "/admin/login", data={"email": "ann@example.com", "password": RIGHT}
            )
            assert right.status_code == 429 and 1 <= int(right.headers["Retry-After"]) <= 60
        # the locked-out address did not lock the account: the person signs in elsewhere
        async with client_from(h.app, "198.51.100.31") as ann:
            ok = await ann.post(
                "/admin/login", data={"email": "ann@example.com", "password": RIGHT}
            )
            assert ok.status_code == 303, ok.text


async def test_wrong_passwords_from_many_addresses_lock_the_account(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = clean_settings(
        redis_url,
        database_url,
        tmp_path,
        console=ConsoleSettings(max_failed_logins=LIMIT, max_failed_per_account=6),
    )
    async with harness_for(settings) as h:
        await add_person(h, "bo@example.com", RIGHT)
        await add_person(h, "cy@example.com", RIGHT)
        codes = []
        for i in range(10):  # a botnet: one guess per address
            async with client_from(h.app, f"192.0.2.{i + 1}") as bot:
                res = await bot.post(
                    "/admin/login", data={"email": "BO@example.com ", "password": f"g{i}"}
                )
                codes.append(res.status_code)
        assert codes == [401] * 6 + [429] * 4, codes
        async with client_from(h.app, "198.51.100.40") as fresh:
            locked = await fresh.post(
                "/admin/login", data={"email": "bo@example.com", "password": RIGHT}
            )
            assert locked.status_code == 429 and "Retry-After" in locked.headers
            other = await fresh.post(
                "/admin/login", data={"email": "cy@example.com", "password": RIGHT}
            )
            assert other.status_code == 303  # another account is not locked


async def test_a_right_password_is_not_counted(settings: Settings) -> None:
    async with harness_for(settings) as h:
        await add_person(h, "di@example.com", RIGHT)
        async with client_from(h.app, "203.0.113.50") as c:
            for _ in range(LIMIT + 2):
                res = await c.post(
                    "/admin/login", data={"email": "di@example.com", "password": RIGHT}
                )
                assert res.status_code == 303


async def test_wrong_api_keys_are_limited_like_the_admin_token(settings: Settings) -> None:
    async with harness_for(settings) as h:
        res = await h.client.post(
            "/api/v1/keys",
            json={"name": "robot", "role": "analyst"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        key = res.json()["key"]
        async with client_from(h.app, "203.0.113.60") as attacker:
            answers = await asyncio.gather(
                *(
                    attacker.get("/api/v1/campaigns", headers={"Authorization": f"Bearer wrk_{i}"})
                    for i in range(BURST // 2)
                )
            )
            codes = Counter(r.status_code for r in answers)
            assert codes[401] <= LIMIT and codes[401] + codes[429] == BURST // 2, codes
            res = await attacker.get(
                "/api/v1/campaigns", headers={"Authorization": f"Bearer {key}"}
            )
            assert res.status_code == 429
        async with client_from(h.app, "198.51.100.61") as robot:
            res = await robot.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {key}"})
            assert res.status_code == 200
