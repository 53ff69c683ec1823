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
from typing import Any, Protocol

from warroom.core.live.frames import encode


class Room(Protocol):
    """What a viewer asks of its room (room.py): a fresh snapshot to resync from."""

    async def snapshot_message(self, lite_view: bool, /) -> tuple[int, Any]: ...


log = logging.getLogger(__name__)

Message = dict[str, Any]  # an ASGI "websocket.send" message, shared by all viewers
Send = Callable[[Message], Awaitable[None]]


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

    def buffered_bytes(self) -> int:
        """Bytes written to this socket that the peer has not taken yet (the server's
        own buffer: it stops accepting sends at its high-water mark)."""
        try:
            return self._buffered() if self._buffered is not None else 0
        except Exception:
            return 0

    def offer(self, seq: int, msg: Message) -> None:
        if self.closed or self.needs_snapshot or seq <= self.floor:
            return  # the snapshot sent or still to be sent includes this change
        if not self.pending and self.sending_since is None and self._send_now(msg):
            return
        if len(self.pending) >= self.max_frames:
            self.pending.clear()
            self.needs_snapshot = True
            self.coalesced += 1
        else:
            self.pending.append((seq, msg))
        self.wake.set()

    def _send_now(self, msg: Message) -> bool:
        """The common case, without a task switch: an idle viewer whose socket takes
        data now. The server's send then completes in one step (it only waits while its
        buffer is over the high-water mark, which `writable` rules out). Should it ever
        suspend, it is abandoned before writing and the viewer resyncs instead."""
        if self._writable is None or not self._writable():
            return False
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
            return True
        step.close()  # type: ignore[attr-defined]
        self.resync()
        return True

    def resync(self) -> None:
        self.pending.clear()
        self.needs_snapshot = True
        self.wake.set()

    def evict(self) -> None:
        """Stop sending and drop the connection without waiting for its buffer."""
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
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away mid-send: this viewer is done
            log.debug("viewer send failed: %r", exc)
        finally:
            self.closed = True
            self.pending.clear()
