"""Across web processes: a settings change and a token rotation made through one
process reach the others at once (their campaign caches are told via Redis), and a
rotated viewer token's open sockets close on every process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.browser.live import WsClient, fresh_settings, live_stack, ws_url
from tests.conftest import ADMIN

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.mark.timeout(120)
async def test_rotation_and_edits_reach_every_web_process(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = fresh_settings(redis_url, database_url, tmp_path)
    async with live_stack(settings, tmp_path, webs=2) as stack:
        c = await stack.create_campaign(slug="two")
        first, second = stack.webs
        async with (
            httpx.AsyncClient(base_url=first.url) as a,
            httpx.AsyncClient(base_url=second.url) as b,
        ):
            old = {"Authorization": f"Bearer {c['viewer_token']}"}
            # the second process has the campaign (and its token) in its cache
            assert (await b.get("/api/v1/campaigns/two/snapshot", headers=old)).status_code == 200
            async with WsClient(ws_url(second, "two", c["viewer_token"])) as viewer:
                await viewer.wait_for(lambda f: f["type"] == "snapshot")
                # an edit through the first process: the second's screens show it
                res = await a.patch(
                    "/api/v1/campaigns/two", json={"target_base_fen": 4242}, headers=ADMIN_H
                )
                assert res.status_code == 200
                await viewer.wait_for(
                    lambda f: f.get("target", {}).get("base_fen") == 4242, timeout=10
                )
                # rotation through the first process: the second drops the socket ...
                rot = await a.post(
                    "/api/v1/campaigns/two/tokens/rotate", json={"which": "viewer"}, headers=ADMIN_H
                )
                assert rot.status_code == 200

                async def closed() -> bool:
                    return viewer._task is not None and viewer._task.done()

                await until(closed)

            # ... and refuses the old token, takes the new one
            async def refused() -> bool:
                res = await b.get("/api/v1/campaigns/two/snapshot", headers=old)
                return res.status_code == 401

            await until(refused, timeout=5.0)
            new = {"Authorization": f"Bearer {rot.json()['token']}"}
            assert (await b.get("/api/v1/campaigns/two/snapshot", headers=new)).status_code == 200
            assert (await a.get("/api/v1/campaigns/two/snapshot", headers=old)).status_code == 401
