"""The edge's own limits against a real `warroom web` (uvicorn) process (issue 17,
items 2 and 8): the client address is the socket's peer unless a trusted proxy sent
the request, so a forged X-Forwarded-For does not reset the sign-in limit; a cap on
sockets per address; header size and concurrency limits from settings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.browser.live import WebProcess, ws_url
from tests.conftest import ADMIN, clean_settings

LIMIT = 10


@contextlib.contextmanager
def web(
    redis_url: str, database_url: str, tmp: Path, env: dict[str, str] | None = None
) -> Iterator[WebProcess]:
    settings = clean_settings(redis_url, database_url, tmp)
    proc = WebProcess(settings, tmp, env)
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


def create_campaign(w: WebProcess, slug: str) -> dict[str, Any]:
    body = {
        "slug": slug,
        "name": "快闪",
        "starts_at": "2026-11-11T10:00:00+08:00",
        "ends_at": "2026-11-11T17:00:00+08:00",
        "target_base_fen": 100_000,
    }
    res = httpx.post(
        w.url + "/api/v1/campaigns",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert res.status_code == 201, res.text
    return dict(res.json())


def sign_in(w: WebProcess, token: str, forwarded_for: str) -> int:
    res = httpx.post(
        w.url + "/admin/login",
        data={"token": token},
        headers={"X-Forwarded-For": forwarded_for},
        timeout=10,
    )
    return res.status_code


def test_forwarded_for_is_ignored_without_a_trusted_proxy(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with web(redis_url, database_url, tmp_path) as w:
        codes = [sign_in(w, "guess", f"10.0.0.{i}") for i in range(LIMIT + 1)]
        assert codes[:LIMIT] == [401] * LIMIT
        assert codes[LIMIT] == 429  # a fresh X-Forwarded-For did not reset the count
        assert sign_in(w, ADMIN, "10.9.9.9") == 429


def test_a_trusted_proxy_is_believed(redis_url: str, database_url: str, tmp_path: Path) -> None:
    env = {"WARROOM_TRUSTED_PROXIES": "127.0.0.1, ::1/128"}
    with web(redis_url, database_url, tmp_path, env) as w:
        codes = [sign_in(w, "guess", "10.0.0.1") for _ in range(LIMIT + 1)]
        assert codes[LIMIT] == 429  # the forwarded address is locked out ...
        assert sign_in(w, ADMIN, "10.0.0.2") == 303  # ... not the operator behind the proxy


async def _open(url: str) -> Any:
    return await connect(url, open_timeout=10)


async def test_sockets_per_address_are_capped(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    env = {"WARROOM_WS_MAX_PER_ADDRESS": "3"}
    with web(redis_url, database_url, tmp_path, env) as w:
        c = create_campaign(w, "cap")
        url = ws_url(w, "cap", c["viewer_token"])
        held = [await _open(url) for _ in range(3)]
        try:
            with pytest.raises(InvalidStatus) as refused:
                await _open(url)
            assert refused.value.response.status_code == 429
            await held.pop().close()
            deadline = time.monotonic() + 10  # the server notices the close
            while True:
                try:
                    held.append(await _open(url))
                    break
                except InvalidStatus:
                    assert time.monotonic() < deadline, "a closed socket was never released"
                    await asyncio.sleep(0.1)
        finally:
            for ws in held:
                await ws.close()


async def test_oversized_headers_and_too_many_connections(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    env = {
        "WARROOM_HTTP_PARSER": "h11",  # the header cap is h11's (httptools has none)
        "WARROOM_HTTP_MAX_HEADER_BYTES": "16384",
        "WARROOM_HTTP_LIMIT_CONCURRENCY": "8",
    }
    with web(redis_url, database_url, tmp_path, env) as w:
        async with httpx.AsyncClient(base_url=w.url, timeout=10) as client:
            try:  # refused (400) and closed, often before the client finished sending
                big = await client.get("/healthz", headers={"X-Big": "x" * 200_000})
                assert big.status_code in (400, 431)
            except httpx.TransportError:
                pass
            assert (await client.get("/healthz")).status_code == 200
        # Idle connections count against the process's concurrency limit.
        idle = [await asyncio.open_connection("127.0.0.1", w.port) for _ in range(10)]
        try:
            async with httpx.AsyncClient(base_url=w.url, timeout=10) as client:
                assert (await client.get("/healthz")).status_code == 503
        finally:
            for _, writer in idle:
                writer.close()
