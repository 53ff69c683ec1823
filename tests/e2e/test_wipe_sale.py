"""Issue 8's acceptance, end to end: Redis is emptied (FLUSHALL) in the middle of a
sale while a viewer watches, orders keep coming and reports fall due. The snapshot is
exact again within seconds, every report ever posted has the ledger's figures as of
its instant, each slot is reported once, no stimulus fires on the lost figures, and the
viewer is told `restoring` instead of being shown zeros."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from tests.conftest import Harness
from tests.e2e.test_triggers import (
    RULE,
    instant,
    ledger_figures,
    reports,
    sell,
    stimuli,
    wait_for,
)
from warroom.adapters.hub.viewer import Viewer
from warroom.workers.aggregator import Aggregator
from warroom.workers.rebuild import Restorer
from warroom.workers.triggers import Triggers


class Screen:
    """A viewer of the hub, as a browser's socket would be: every frame recorded."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        raw = message.get("text") or message.get("bytes")
        self.frames.append(orjson.loads(raw))


async def test_flushall_mid_sale_heals_and_no_report_or_rule_uses_lost_figures(
    harness: Harness,
) -> None:
    now_ms = int(time.time() * 1000)
    now_ms -= now_ms % 60_000
    c = await harness.create_campaign(
        starts_at=now_ms,
        ends_at=now_ms + 7 * 3600 * 1000,
        time_scale=60,  # a campaign minute per second
        milestones_fen=[],
        target_base_fen=10**10,
        target_stretch_fen=10**10,
        report_every_minutes=1,
        # Sales never slow down here: any fire would be a fire on the wiped zeros.
        stimulus_rules=[{**RULE, "below_peak_ratio": 0.5, "sustain_minutes": 1}],
    )
    rt = harness.runtime
    screen = Screen()
    viewer = Viewer(screen.send, lambda: None)
    rt_hub = harness.app.state.hub
    rt_hub.join("sale", viewer)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(Aggregator(rt.hot, rt.stream, consumer="w", block_ms=50).run(stop)),
        asyncio.create_task(Triggers(rt.store, rt.hot, rt.reports, rt.announcer).run(stop, 0.1)),
    ]
    restorer = Restorer(rt.store, rt.hot, rt.stream, rt.announcer.restore_feeds, 0.5)
    try:
        i = await sell(harness, c["ingest_token"], 0, 5.0)
        before = await harness.snapshot("sale", c["viewer_token"])
        assert before["totals"]["orders"] > 0 and not before["restoring"]
        seen_before_wipe = len(screen.frames)
        await rt.redis.flushall()
        wiped = time.monotonic()
        # Sales go on at the same pace all through (a pause would be a real slump), until
        # told to stop: the flag ends them even if a cancel were lost on the way.
        enough = asyncio.Event()
        selling = asyncio.create_task(sell(harness, c["ingest_token"], i, 600.0, stop=enough))

        # A worker restores within a second or so; here the restorer starts only once
        # the screen has been told, so that moment is always seen (not a race).
        async def told() -> bool:
            return any(f.get("restoring") for f in screen.frames[seen_before_wipe:])

        try:
            await wait_for(told, 30.0)
            tasks.append(asyncio.create_task(restorer.run(stop)))
            await asyncio.sleep(3.0)
        finally:
            enough.set()
            selling.cancel()
            await asyncio.wait({selling}, timeout=10.0)
            assert selling.done(), "the sales loop did not stop"
            if not selling.cancelled():
                selling.exception()  # retrieved: a failure inside shows in the result

        async def exact() -> bool:
            snap = await harness.snapshot("sale", c["viewer_token"])
            want = ledger_figures(harness, "sale", None)
            got = {k: snap["totals"][k] for k in want}
            return not snap["restoring"] and got == want

        await wait_for(exact, 60.0)
        print(f"exact again {time.monotonic() - wiped:.1f} s after the wipe")

        async def reported() -> bool:
            kinds = [r["kind"] for r in await reports(harness, c)]
            return kinds.count("scheduled") >= 8

        await wait_for(reported, 60.0)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        rt_hub.leave("sale", viewer)
    posted = await reports(harness, c)
    heads = [r["text"].splitlines()[0] for r in posted if r["kind"] == "scheduled"]
    assert len(heads) == len(set(heads)), heads  # each slot once
    for r in posted:
        f = r["figures"]
        expected = ledger_figures(harness, "sale", instant(f["as_of"]))
        assert {k: f[k] for k in expected} == expected, r
    assert await stimuli(harness, c) == []  # steady sales: nothing may fire
    # The viewer, as the screen's script reads it: `restoring` holds from the frame
    # that says it (a snapshot always carries it, an update when it changes) until one
    # says otherwise; no frame may show fewer orders than before the wipe outside it.
    after = screen.frames[seen_before_wipe:]
    shown = [f for f in after if f.get("type") in ("snapshot", "update")]
    assert any(f.get("restoring") for f in shown), "the screen was never told"
    restoring = False
    for f in shown:
        restoring = f.get("restoring", restoring)
        totals = f.get("totals")
        if totals and totals["orders"] < before["totals"]["orders"]:
            assert restoring, f
    assert restoring is False  # and told when the figures are back
