"""Ingest answers within WARROOM_DEPENDENCY_TIMEOUT_S in total, not per step (issue
17, item 6): with Redis paused (SIGSTOP), requests that queue behind a stuck stream
append answer by their own deadline, not one append timeout after another.

A paused Redis accepts connections and never answers: the worst case for a client.
The server is this test's own, resumed (SIGCONT) in a finally whatever happens."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from tests.conftest import clean_settings, harness_for
from tests.e2e.test_smoke import order
from warroom.adapters.redis.embedded import EmbeddedRedis

TIMEOUT_S = 3.0
MARGIN_S = 1.0  # the writer's grace and a loaded machine; one more append would be 3 s


async def test_ingest_answers_by_its_deadline_with_redis_paused(
    tmp_path: Path, database_url: str
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        settings = clean_settings(
            server.url, database_url, tmp_path, warroom_dependency_timeout_s=TIMEOUT_S
        )
        async with harness_for(settings) as h:
            c = await h.create_campaign()
            assert server.proc is not None
            pid = server.proc.pid

            async def post(n: int, after_s: float) -> tuple[int, float]:
                await asyncio.sleep(after_s)
                began = time.monotonic()
                res = await asyncio.wait_for(
                    h.post_events("sale", c["ingest_token"], [order(n)]), 4 * TIMEOUT_S
                )
                return res.status_code, time.monotonic() - began

            os.kill(pid, signal.SIGSTOP)
            try:
                answers = await asyncio.gather(
                    post(1, 0.0), post(2, 0.3 * TIMEOUT_S), post(3, 0.6 * TIMEOUT_S)
                )
            finally:
                os.kill(pid, signal.SIGCONT)
            for status, took in answers:
                assert status in (202, 503), answers  # durable, or refused: never a hang
                assert took < TIMEOUT_S + MARGIN_S, answers
            # Redis is back: ingest goes on as before.
            res = await asyncio.wait_for(
                h.post_events("sale", c["ingest_token"], [order(9)]), 4 * TIMEOUT_S
            )
            assert res.status_code == 202
    finally:
        server.stop()
