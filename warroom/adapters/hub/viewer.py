"""One dashboard socket: a bounded latest-state queue of shared messages, the task that
sends them, and a fast path that writes at once when the viewer is idle and its socket
can take data (most frames, most viewers: no task switch per viewer per frame)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from warroom.adapters.metrics import catalogue as metrics
from warroom.core.live.frames import encode


class Room(Protocol):
    """What a viewer asks of its room (room.py): a fresh snapshot to resync from; and
    what the hub asks of the room a viewer is in: to let it go."""

    async def snapshot_message(self, lite_view: bool, /) -> tuple[int, Any]: ...

    def remove(self, viewer: Viewer, /) -> None: ...


log = logging.getLogger(__name__)

Message = dict[str, Any]  # an ASGI "websocket.send" message, shared by all viewers
Send = Callable[[Message], Awaitable[None]]

# Why a viewer is sent a fresh snapshot instead of its next update (the `reason` label
# of warroom_viewer_resyncs_total): `gap` (hot state went backwards: a restore or a
# rebuild), `asked` (the client sent {"type": "resync"}), `queue` (its queue of frames
# overflowed), `blocked` (a write would have waited for a full socket buffer).
ResyncReason = Literal["gap", "asked", "queue", "blocked"]
# Why the server closes a viewer (warroom_viewer_evictions_total): `stalled` (a send
# blocked past WARROOM_WS_STALL_CLOSE_S), `rotated` (its viewer token was rotated),
# `revoked` (its scoped link was revoked), `gone` (the campaign was deleted),
# `shutdown` (the web process is stopping).
EvictReason = Literal["stalled", "rotated", "revoked", "gone", "shutdown"]
RESYNCS = {r: metrics.RESYNCS.labels(r) for r in ("gap", "asked", "queue", "blocked")}
EVICTIONS = {
    r: metrics.EVICTIONS.labels(r) for r in ("stalled", "rotated", "revoked", "gone", "shutdown")
}


def message(frame: dict[str, Any]) -> Message:
    return {"type": "websocket.send", "text": encode(frame)}


class Viewer:
    """One socket: a bounded queue of shared messages and the task that sends them."""

    def __init__(
        self,
        send: Send,
        abort: Callable[[], None],
        *,
        lite: bool = False,
        max_frames: int = 8,
        buffered: Callable[[], int] | None = None,
        writable: Callable[[], bool] | None = None,
        link_id: int | None = None,
    ) -> None:
        self._send = send
        self.link_id = link_id  # the scoped link it was opened with (None: the viewer token)
        self._abort = abort
        self._buffered = buffered
        self._writable = writable
        self.lite = lite
        self.max_frames = max_frames
        self.pending: deque[tuple[int, Message]] = deque()
        self.needs_snapshot = True  # the first frame is always a snapshot
        self.floor = -1  # seq of the last snapshot: older frames are inside it
        self.wake = asyncio.Event()
        self.wake.set()
        self.sending_since: float | None = None
        self.closed = False
        self.frames_sent = 0
        self.coalesced = 0
        self.task: asyncio.Task[None] | None = None
        self.room: Room | None = None  # the room it joined (set by the room)

    def buffered_bytes(self) -> int:
        """Bytes written to this socket that the peer has not taken yet (the server's
        own buffer: it stops accepting sends at its high-water mark)."""
        try:
            return self._buffered() if self._buffered is not None else 0
        except Exception:
            return 0

    def offer(self, seq: int, msg: Message) -> bool:
        """Hand the viewer a frame: written at once, queued, or folded into a snapshot.
        True when it was written now (the room counts those, once per fan-out; frames
        sent later by the viewer's task are counted there)."""
        if self.closed or self.needs_snapshot or seq <= self.floor:
            return False  # the snapshot sent or still to be sent includes this change
        if not self.pending and self.sending_since is None:
            written = self._send_now(msg)
            if written is not None:
                return written
        if len(self.pending) >= self.max_frames:
            self.pending.clear()
            self.needs_snapshot = True
            self.coalesced += 1
            RESYNCS["queue"].inc()
        else:
            self.pending.append((seq, msg))
        self.wake.set()
        return False

    def _send_now(self, msg: Message) -> bool | None:
        """The common case, without a task switch: an idle viewer whose socket takes
        data now. The server's send then completes in one step (it only waits while its
        buffer is over the high-water mark, which `writable` rules out). Should it ever
        suspend, it is abandoned before writing and the viewer resyncs instead.
        True: written; False: dealt with, not written (the peer is gone, or a resync);
        None: the socket cannot take it now, so it is queued."""
        if self._writable is None or not self._writable():
            return None
        step = self._send(msg)
        try:
            step.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            self.frames_sent += 1
            return True
        except Exception as exc:  # the peer is gone
            log.debug("viewer send failed: %r", exc)
            self.closed = True
            self.wake.set()
            return False
        step.close()  # type: ignore[attr-defined]
        self.resync("blocked")
        return False

    def resync(self, reason: ResyncReason = "asked") -> bool:
        """Send a fresh snapshot next instead of what is queued; counted (by reason)
        when this viewer was not already due one. True if it was not."""
        fresh = self.mark_resync()
        if fresh:
            RESYNCS[reason].inc()
        return fresh

    def mark_resync(self) -> bool:
        """`resync` without counting (a room counts its viewers at once); True when
        this viewer was not already due a snapshot."""
        fresh = not self.needs_snapshot and not self.closed
        self.pending.clear()
        self.needs_snapshot = True
        self.wake.set()
        return fresh

    def evict(self, reason: EvictReason) -> None:
        """Stop sending and drop the connection without waiting for its buffer; counted
        (by reason) unless the viewer had closed already."""
        if not self.closed:
            EVICTIONS[reason].inc()
        self.closed = True
        self.pending.clear()
        self.wake.set()
        with contextlib.suppress(Exception):
            self._abort()

    async def run(self, room: Room) -> None:
        try:
            while not self.closed:
                await self.wake.wait()
                self.wake.clear()
                while not self.closed:
                    if self.needs_snapshot:
                        self.needs_snapshot = False
                        seq, msg = await room.snapshot_message(self.lite)
                        self.floor = seq
                        while self.pending and self.pending[0][0] <= seq:
                            self.pending.popleft()
                    elif self.pending:
                        seq, msg = self.pending.popleft()
                    else:
                        break
                    self.sending_since = time.monotonic()
                    await self._send(msg)
                    self.sending_since = None
                    self.frames_sent += 1
                    metrics.FRAMES.inc()  # the slow path: a queued frame or a snapshot
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away mid-send: this viewer is done
            log.debug("viewer send failed: %r", exc)
        finally:
            self.closed = True
            self.pending.clear()
