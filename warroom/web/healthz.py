"""`GET /healthz`: 200 when every part works, else 503 saying which part is degraded.

Parts: `redis` (`ok`, `oom`: too full for a write of realistic size, `down`), `database`
(`ok`, `failing`: the ledger's last write failed, e.g. locked or timed out, `down`), and
`aggregation` (`ok`, or `stalled`: accepted events are not reaching the screens, because
Redis refuses them or ledger rows have waited too long for their stream). A failed
stream append counts until this probe finds Redis writable again, not until the next
event. Every probe is bounded by WARROOM_DEPENDENCY_TIMEOUT_S, so the answer itself
never hangs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from warroom.adapters.health import OK, redis_state
from warroom.adapters.redis import keys
from warroom.web.errors import JSONBytes

STALLED_AFTER_MS = 30_000  # a ledger row not in its stream after this long: stalled


async def _sql(fn: Any, timeout_s: float) -> tuple[bool, Any]:
    try:
        return True, await asyncio.wait_for(asyncio.to_thread(fn), timeout_s)
    except Exception:
        return False, None


async def healthz_response(app: Any) -> JSONBytes:
    rt = app.state.runtime
    writer = getattr(app.state, "writer", None)
    timeout_s = rt.settings.warroom_dependency_timeout_s
    redis_part, (db_up, _), (_, oldest) = await asyncio.gather(
        redis_state(rt.redis, keys.probe(), timeout_s),
        _sql(rt.store.ping, timeout_s),
        _sql(rt.store.oldest_unrelayed_ms, timeout_s),
    )
    database = OK if db_up else "down"
    if db_up and writer is not None and writer.sql_failing:
        # Stale once a write could start again (no new event needed to clear it).
        can_write, _ = await _sql(rt.store.probe_write, timeout_s)
        if can_write:
            writer.sql_probed()
        else:
            database = "failing"
    stuck = oldest is not None and rt.clock.now_ms() - oldest > STALLED_AFTER_MS
    if redis_part == OK and writer is not None and writer.stream_failing:
        writer.stream_probed()  # Redis takes writes again: the flag is stale
    stream_failing = writer is not None and writer.stream_failing
    aggregation = "stalled" if redis_part != OK or stuck or stream_failing else OK
    parts = {"redis": redis_part, "database": database, "aggregation": aggregation}
    bad = {k: v for k, v in parts.items() if v != OK}
    if not bad:
        return JSONBytes({"status": "ok", "parts": parts})
    return JSONBytes(
        {
            "status": "degraded",
            "error": "; ".join(f"{k}: {v}" for k, v in bad.items()),
            "parts": parts,
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )
