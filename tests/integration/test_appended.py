"""The aggregator reads the streams whose appends were announced, not every campaign's
stream each second: idle campaigns are only read by the periodic sweep, an append is
read on its own as soon as it is announced, and what was appended before the
aggregator listened is read by the sweep a new subscription starts with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import Harness
from tests.e2e.test_smoke import order
from tests.integration.test_metrics_scrape import fresh, live_campaign
from warroom.adapters.redis.streams import Entry, EventStream
from warroom.workers.aggregator import Aggregator

CAMPAIGNS = 30
WAIT_S = 60.0  # a condition, never a speed: generous on a loaded machine


class CountingStream(EventStream):
    """The real stream adapter, noting which streams each read names."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.reads: list[tuple[str, ...]] = []

    async def read(
        self, slugs: list[str], consumer: str, count: int, block_ms: int | None
    ) -> list[Entry]:
        self.reads.append(tuple(slugs))
        return await super().read(slugs, consumer, count, block_ms)


async def until(pred: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await pred():
        assert time.monotonic() < deadline, f"not within {WAIT_S:g} s: {what}"
        await asyncio.sleep(0.05)


async def gmv(h: Harness, slug: str, token: str) -> int:
    return int((await h.snapshot(slug, token))["totals"]["gmv_fen"])


async def test_idle_streams_wait_for_the_sweep_and_an_append_is_read_alone(
    harness: Harness,
) -> None:
    h, rt = harness, harness.runtime
    made = {f"c{i:02d}": await live_campaign(h, f"c{i:02d}") for i in range(CAMPAIGNS)}
    # appended before the aggregator listens: its first sweep must find it
    early = await h.post_events("c03", made["c03"]["ingest_token"], [fresh(order(1))])
    assert early.json()["accepted"] == 1
    stream = CountingStream(rt.hot.redis)
    everyone = len(await stream.campaigns())
    assert everyone >= CAMPAIGNS
    agg = Aggregator(rt.hot, stream, consumer="t", block_ms=200, sweep_s=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(agg.run(stop))

    def sweeps() -> int:
        return sum(1 for r in stream.reads if len(r) == everyone)

    async def swept(n: int) -> bool:
        return sweeps() >= n

    try:
        await until(lambda: gmv(h, "c03", made["c03"]["viewer_token"]), "the early order")
        await until(lambda: swept(3), "three sweeps")
        # idle: nothing but sweeps named any stream
        assert all(len(r) == everyone for r in stream.reads), stream.reads
        before = len(stream.reads)
        token = made["c17"]["ingest_token"]
        assert (await h.post_events("c17", token, [fresh(order(2))])).json()["accepted"] == 1
        await until(lambda: gmv(h, "c17", made["c17"]["viewer_token"]), "the announced order")

        async def read_alone() -> bool:  # a sweep may have applied it first: wait for both
            return ("c17",) in stream.reads[before:]

        # the announcement made the aggregator read that one stream (no sweep reads one)
        await until(read_alone, "a read of the announced stream alone")
        since = stream.reads[before:]
        alone = [r for r in since if len(r) != everyone]
        assert set(alone) == {("c17",)}, since  # and no other stream outside a sweep
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await gmv(h, "c17", made["c17"]["viewer_token"]) == order(2)["amount_fen"]
