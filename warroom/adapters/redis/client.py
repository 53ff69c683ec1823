"""The Redis client: one place decides how Warroom connects (single node or Cluster).

A single node is reached through a blocking pool sized to the process
(WARROOM_REDIS_MAX_CONNECTIONS): a burst larger than the pool waits up to
WARROOM_REDIS_POOL_TIMEOUT_S for a connection instead of failing at once (redis-py's
default pool refuses the 101st concurrent command with MaxConnectionsError, which the
edge answered as 503 "Redis is unavailable" with Redis healthy)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster

__all__ = ["Redis", "redis_client"]


def redis_client(
    url: str,
    cluster: bool = False,
    connect_timeout_s: float = 10.0,
    max_connections: int = 64,
    pool_timeout_s: float = 2.0,
) -> Redis:
    # BLOCK on XREADGROUP stays well below this timeout (see DESIGN.md pitfalls).
    if cluster:
        # The same command surface as Redis for everything Warroom calls; typed as
        # Redis so adapters stay oblivious (they branch only where a cluster differs).
        # Per node: redis-py's cluster client has no blocking pool.
        return RedisCluster.from_url(  # type: ignore[return-value]
            url,
            socket_timeout=30,
            socket_connect_timeout=connect_timeout_s,
            health_check_interval=15,
            max_connections=max_connections,
        )
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout_s,
        socket_timeout=30,
        socket_connect_timeout=connect_timeout_s,
        health_check_interval=15,
    )
    return Redis.from_pool(pool)  # the client owns the pool: aclose() disconnects it
