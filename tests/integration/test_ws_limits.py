"""Viewers' messages are capped (issue 9, item 4): the dashboard socket takes only tiny
control messages; anything over WARROOM_WS_MAX_MESSAGE_BYTES (4 KiB) is closed with
1009 (message too big) against a real `warroom web` (uvicorn) process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.browser.live import Stack, fresh_settings, live_stack, ws_url

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("wslimits")
    settings = fresh_settings(redis_url, database_url, tmp)
    async with live_stack(settings, tmp) as s:
        yield s


async def close_code_after_sending(url: str, message: str | bytes) -> int | None:
    async with connect(url, open_timeout=10, max_size=2**24) as ws:
        first = await asyncio.wait_for(ws.recv(), 10)
        assert b'"snapshot"' in (first if isinstance(first, bytes) else first.encode())
        deadline = asyncio.get_running_loop().time() + 15
        try:
            # A big message may be cut off while still being sent: the server closes
            # as soon as it sees the size, so the send itself can meet the close.
            await ws.send(message)
            while asyncio.get_running_loop().time() < deadline:  # frames keep coming
                await asyncio.wait_for(ws.recv(), 15)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        return None  # still open: the message was taken


@pytest.mark.parametrize(
    "message", ["x" * 8 * 1024, "{" + "y" * 2 * 1024 * 1024 + "}", b"\0" * 64 * 1024]
)
async def test_oversized_viewer_message_closes_with_1009(stack: Stack, message: object) -> None:
    slug = f"caps{len(message)}"  # type: ignore[arg-type]
    c = await stack.create_campaign(slug=slug)
    code = await close_code_after_sending(ws_url(stack.web, slug, c["viewer_token"]), message)
    assert code == 1009


async def test_small_messages_are_still_served(stack: Stack) -> None:
    c = await stack.create_campaign(slug="small")
    url = ws_url(stack.web, "small", c["viewer_token"])
    async with connect(url, open_timeout=10, max_size=2**24) as ws:
        await asyncio.wait_for(ws.recv(), 10)  # the snapshot
        await ws.send("z" * 3000)  # under the cap, not JSON: ignored, the socket stays
        await ws.send('{"type": "resync"}')
        again = await asyncio.wait_for(ws.recv(), 10)
        assert '"snapshot"' in (again if isinstance(again, str) else again.decode())
