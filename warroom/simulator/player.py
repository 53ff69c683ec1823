"""Playing a sale through the public API, on the campaign clock."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from warroom.adapters.clock import real_now_ms
from warroom.core.ingest.clock import CampaignClock
from warroom.simulator.day import Sale
from warroom.simulator.lifts import Stimulation

log = logging.getLogger("warroom.simulator")

# Playing a sale through the public API -------------------------------------------------


# A batch sender: (events, stats, stop) -> None, raising on a refusal (post_batch's shape).
Sender = Callable[[list[dict[str, Any]], "PlayStats", asyncio.Event], Awaitable[None]]


@dataclass
class PlayStats:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


async def post_batch(
    client: httpx.AsyncClient, slug: str, ingest_token: str, events: list[dict[str, Any]],
    stats: PlayStats, stop: asyncio.Event,
) -> None:  # fmt: skip
    """POST one JSON array; retry on 429/5xx and dropped connections (re-sending is
    safe: each identity counts once). Any other refusal is a bug and raises."""
    headers = {"Authorization": f"Bearer {ingest_token}"}
    delay = 0.25
    while not stop.is_set():
        try:
            res = await client.post(
                f"/api/v1/campaigns/{slug}/events", json=events, headers=headers
            )
            stats.requests += 1
            if res.status_code == 202:
                body = res.json()
                stats.sent += len(events)
                stats.accepted += body["accepted"]
                stats.duplicates += body["duplicates"]
                stats.rejected += len(body["rejected"])
                return
            if res.status_code != 429 and res.status_code < 500:
                raise RuntimeError(f"ingest refused ({res.status_code}): {res.text[:300]}")
            log.warning("ingest answered %s; retrying in %.1fs", res.status_code, delay)
        except httpx.TransportError as exc:
            log.warning("ingest failed (%s); retrying in %.1fs", exc, delay)
        stats.retries += 1
        await _wait(stop, delay)
        delay = min(5.0, delay * 2)


async def play(
    client: httpx.AsyncClient, slug: str, ingest_token: str, sale: Sale, clock: CampaignClock,
    *, batch_max: int = 500, tick_s: float = 0.25, stop: asyncio.Event | None = None,
    send: Sender | None = None, stimulation: Stimulation | None = None,
) -> PlayStats:  # fmt: skip
    """Send each event once its arrival time has come on the campaign clock, everything
    due in one tick together (JSON arrays of at most `batch_max`). Falls behind
    gracefully: a slow server gets bigger batches, never a burst of tiny ones. `send`
    replaces the events API for each batch (the demo routes orders and members through
    its sources, demo_feeds.py); by default `post_batch`. `stimulation`: fires' lift
    orders join the timeline as they are received (the sale itself is not changed)."""
    stop = stop or asyncio.Event()

    async def events_api(
        chunk: list[dict[str, Any]], stats: PlayStats, stop: asyncio.Event
    ) -> None:
        await post_batch(client, slug, ingest_token, chunk, stats, stop)

    send = send or events_api
    stats, timeline, i = PlayStats(), list(sale.timeline), 0
    while i < len(timeline) and not stop.is_set():
        for item in stimulation.take() if stimulation else ():
            bisect.insort(timeline, item, lo=i, key=lambda t: t[0])
        due = bisect.bisect_right(timeline, clock.now_ms(real_now_ms()), lo=i, key=lambda t: t[0])
        while i < due and not stop.is_set():
            chunk = [e for _, e in timeline[i : min(due, i + batch_max)]]
            await send(chunk, stats, stop)
            i += len(chunk)
        if i < len(timeline):
            next_real = clock.real_ms_for(timeline[i][0])
            await _wait(stop, max(tick_s, (next_real - real_now_ms()) / 1000))
    return stats
