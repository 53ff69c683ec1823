"""The Redis client: one place decides how Warroom connects (single node or Cluster)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

__all__ = ["Redis", "redis_client"]


def redis_client(url: str, cluster: bool = False, connect_timeout_s: float = 10.0) -> Redis:
    # BLOCK on XREADGROUP stays well below this timeout (see DESIGN.md pitfalls).
    if cluster:
        # The same command surface as Redis for everything Warroom calls; typed as
        # Redis so adapters stay oblivious (they branch only where a cluster differs).
        return RedisCluster.from_url(  # type: ignore[return-value]
            url,
            socket_timeout=30,
            socket_connect_timeout=connect_timeout_s,
            health_check_interval=15,
        )
    return Redis.from_url(
        url,
        socket_timeout=30,
        socket_connect_timeout=connect_timeout_s,
        health_check_interval=15,
    )
