"""A blocking Redis pool sized to the process (issue 17, item 3): a burst of concurrent
requests larger than the pool waits a moment for a connection and succeeds, and the
process never holds more connections than the pool allows."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import redis

from tests.conftest import clean_settings, harness_for

POOL = 8
BURST = 300


def connected(redis_url: str) -> int:
    r = redis.Redis.from_url(redis_url)
    try:
        return int(r.info("clients")["connected_clients"])
    finally:
        r.close()


async def test_a_burst_larger_than_the_pool_waits_and_succeeds(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = clean_settings(redis_url, database_url, tmp_path, warroom_redis_max_connections=POOL)
    async with harness_for(settings) as h:
        c = await h.create_campaign()
        before = connected(redis_url)
        auth = {"Authorization": f"Bearer {c['viewer_token']}"}
        answers = await asyncio.gather(
            *(h.client.get("/api/v1/campaigns/sale/snapshot", headers=auth) for _ in range(BURST))
        )
        assert Counter(r.status_code for r in answers) == {200: BURST}
        assert connected(redis_url) - before <= POOL  # never more than the pool
        assert h.runtime.redis.connection_pool.max_connections == POOL
