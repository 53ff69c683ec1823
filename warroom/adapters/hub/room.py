"""One campaign's viewers in one web process: a coalescer that renders the campaign on
the leading edge of a change and then at most `frames_per_s` times a second while
changes keep coming, and fans each frame out to its viewers.

Why this shape (DESIGN.md, "one slow viewer hurts nobody"):
- a render reads hot state once and encodes each frame once; fan-out hands the same
  message to every viewer and never waits for a socket: an idle viewer whose socket
  takes data is written at once, any other gets it queued (hub_viewer.py);
- every viewer has its own sender task for what is queued, so a phone on a bad
  network stalls only itself;
- a queue holds at most `queue_frames` frames; when it overflows the backlog is
  dropped and the viewer is sent the room's current snapshot instead (the latest
  state, encoded once per seq and shared), so memory per viewer stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from warroom.adapters.hub.viewer import RESYNCS, Message, Viewer, message
from warroom.adapters.metrics import catalogue as metrics
from warroom.core.live.frames import diff, lite, new_items
from warroom.core.live.masked import mask_frame
from warroom.core.live.shapes import ReportItem, Snapshot, StimulusItem

log = logging.getLogger(__name__)

FANOUT_SLICE = 500  # viewers served before the fan-out yields to the event loop


@dataclass
class Loaded:
    """What one render reads: the snapshot, the whole live feeds, the freshness."""

    snapshot: Snapshot
    reports: list[ReportItem]
    stimuli: list[StimulusItem]
    fresh: dict[str, Any]
    # the campaign's thresholds (milestones and targets): a masked room numbers them
    marks: list[int] = field(default_factory=list)


@dataclass
class RoomConfig:
    frames_per_s: float = 8.0  # at most, while changes keep coming
    heartbeat_s: float = 5.0
    queue_frames: int = 8
    # The share of one core a campaign's renders and fan-out may take while changes
    # keep coming: the throttle interval is the larger of 1/frames_per_s and the last
    # render's cost divided by this. Few viewers: frames every 1/frames_per_s; many:
    # fewer frames, never more CPU. 0 turns the budget off (fixed frames_per_s).
    budget: float = 0.4


@dataclass
class RoomStats:
    renders: int = 0
    frames: int = 0
    resyncs: int = 0
    render_s: float = 0.0
    last_fanout_s: float = 0.0
    errors: int = 0
    leading: int = 0  # renders at once: the first change after a quiet spell
    throttled: int = 0  # renders that waited for the interval (sustained change)


class Room:
    """The coalescer of one campaign: hints poke it, it renders on the leading edge and
    then at most once per interval (1/frames_per_s, longer when a frame costs more than
    the budget allows), and at least once per heartbeat (so screens see the clock, the
    freshness figure and velocity move even when sales are quiet)."""

    def __init__(
        self,
        slug: str,
        load: Callable[[str], Awaitable[Loaded | None]],
        cfg: RoomConfig,
        masked: bool = False,
    ) -> None:
        self.slug = slug
        # A masked room (masked wall links) renders the same campaign and sends every
        # frame through core/live/masked.py: its viewers never receive an amount.
        self.masked = masked
        self.marks: list[int] = []
        self._load = load
        self.cfg = cfg
        self.viewers: set[Viewer] = set()
        self.seq = 0
        self.snap: Snapshot | None = None
        self.fresh: dict[str, Any] = {}
        self._report_ids: set[Any] = set()
        self._stimulus_ids: set[Any] = set()
        self._snap_cache: dict[bool, tuple[int, Message]] = {}
        self.dirty = asyncio.Event()
        self.dirty.set()  # render at once: the first viewer is waiting for a snapshot
        self.ready = asyncio.Event()
        self.gone = False  # the campaign no longer exists
        self.last_render = 0.0
        # CPU seconds (this thread's) of the last render + fan-out of a change: what the
        # budget bounds. Not wall time, which on a busy machine counts waiting for a core.
        self.last_cost = 0.0
        self.last_update = 0.0
        self.empty_since: float | None = None
        self.stats = RoomStats()
        self.task: asyncio.Task[None] | None = None
        # Resolved once per room: the viewers gauge child of its campaign.
        self._viewers_gauge = metrics.VIEWERS.labels(metrics.campaign_label(slug))

    # viewers -------------------------------------------------------------------------

    def add(self, viewer: Viewer) -> None:
        if viewer not in self.viewers:
            self.viewers.add(viewer)
            self._viewers_gauge.inc()
        viewer.room = self
        self.empty_since = None
        viewer.task = asyncio.create_task(viewer.run(self), name=f"viewer:{self.slug}")

    def remove(self, viewer: Viewer) -> None:
        """The one way out of a room (a closed socket, an eviction once its socket's
        handler ends, the hub stopping): the viewers gauge falls here, once."""
        if viewer in self.viewers:
            self.viewers.discard(viewer)
            self._viewers_gauge.dec()
        viewer.closed = True
        viewer.wake.set()
        if viewer.task is not None and not viewer.task.done():
            viewer.task.cancel()
        if not self.viewers:
            self.empty_since = time.monotonic()

    def poke(self) -> None:
        self.dirty.set()

    async def snapshot_message(self, lite_view: bool) -> tuple[int, Message]:
        await self.ready.wait()
        cached = self._snap_cache.get(lite_view)
        if cached is not None and cached[0] == self.seq:
            return cached
        assert self.snap is not None
        body = lite(self.snap) if lite_view else self.snap
        frame = {"type": "snapshot", "seq": self.seq, **body, "fresh": self.fresh}
        entry = (self.seq, message(self._out(frame)))
        self._snap_cache[lite_view] = entry
        return entry

    # rendering -----------------------------------------------------------------------

    async def run(self) -> None:
        """Leading edge, then throttle: the first change after a quiet spell renders at
        once; while changes keep coming, at most one render per interval (the hints
        that arrive meanwhile join the next one). Heartbeat renders, when nothing
        changed, do not count against the throttle: a change right after one still
        renders at once."""
        while True:
            changed = True
            try:
                async with asyncio.timeout(self.cfg.heartbeat_s):
                    await self.dirty.wait()
            except TimeoutError:
                changed = False
            if changed:
                wait = self.last_render + self.interval() - time.monotonic()
                if wait > 0:
                    self.stats.throttled += 1
                    await asyncio.sleep(wait)  # coalesce: hints arriving now join this render
                else:
                    self.stats.leading += 1
                self.last_render = time.monotonic()
            self.dirty.clear()
            began = time.thread_time()
            try:
                await self.render()
                if changed:  # smoothed: one slow render (a GC pause) moves it halfway
                    cost = time.thread_time() - began
                    self.last_cost = cost if not self.last_cost else (self.last_cost + cost) / 2
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.errors += 1
                log.exception("render failed for %s; retrying", self.slug)
                await asyncio.sleep(1.0)
                self.dirty.set()

    def interval(self) -> float:
        """Seconds between renders while changes keep coming (see RoomConfig.budget)."""
        floor = 1.0 / self.cfg.frames_per_s
        if self.cfg.budget <= 0:
            return floor
        return max(floor, self.last_cost / self.cfg.budget)

    async def render(self) -> None:
        started = time.perf_counter()
        loaded = await self._load(self.slug)
        if loaded is None:
            self.gone = True
            for v in tuple(self.viewers):
                v.evict("gone")
            return
        self.fresh = loaded.fresh
        self.marks = loaded.marks
        new_reports, self._report_ids = new_items(self._report_ids, loaded.reports)
        new_stimuli, self._stimulus_ids = new_items(self._stimulus_ids, loaded.stimuli)
        prev, self.snap = self.snap, loaded.snapshot
        self.stats.renders += 1
        metrics.RENDERS.inc()
        if prev is None:  # the baseline: existing reports travel inside the snapshot
            self.last_update = time.monotonic()
            self.ready.set()
            self._rendered(time.perf_counter() - started)
            return
        d = diff(prev, loaded.snapshot)
        if d.resync:
            self.seq += 1
            self.stats.resyncs += 1
            RESYNCS["gap"].inc(sum(v.mark_resync() for v in tuple(self.viewers)))
            self._rendered(time.perf_counter() - started)
            return
        frames: list[dict[str, Any]] = []
        now = time.monotonic()
        if (
            d.changed
            or new_reports
            or new_stimuli
            or now - self.last_update >= self.cfg.heartbeat_s
        ):
            self.last_update = now
            frames.append({"type": "update", "seq": 0, **d.update, "fresh": loaded.fresh})
        frames += [{"type": "stimulus", "seq": 0, "stimulus": s} for s in new_stimuli]
        frames += [{"type": "report", "seq": 0, "report": r} for r in new_reports]
        rendered = time.perf_counter()
        self.stats.render_s += rendered - started
        encoding = 0.0  # the frames' encoding, part of the render's cost
        sent = 0  # frames written at once, one per viewer per frame
        for frame in frames:
            self.seq += 1
            frame["seq"] = self.seq
            t = time.perf_counter()
            msg = message(self._out(frame))
            encoding += time.perf_counter() - t
            for i, v in enumerate(tuple(self.viewers)):
                sent += v.offer(frame["seq"], msg)
                if i % FANOUT_SLICE == FANOUT_SLICE - 1:
                    await asyncio.sleep(0)  # let ingest and other rooms run
            self.stats.frames += 1
        self.stats.last_fanout_s = time.perf_counter() - rendered
        metrics.RENDER_SECONDS.observe(rendered - started + encoding)
        if sent:
            metrics.FRAMES.inc(sent)

    def _rendered(self, seconds: float) -> None:
        self.stats.render_s += seconds
        metrics.RENDER_SECONDS.observe(seconds)

    def _out(self, frame: dict[str, Any]) -> dict[str, Any]:
        if not self.masked:
            return frame
        assert self.snap is not None
        return mask_frame(frame, self.snap, self.marks)

    def resync_all(self) -> None:
        for v in tuple(self.viewers):
            v.resync("gap")
