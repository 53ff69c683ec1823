"""A TCP fault proxy on 127.0.0.1, for putting a bad network between a Warroom process
and Redis or PostgreSQL.

Modes, switched at any time with `set_mode` (they apply to connections already open
as well as new ones):

- `pass`: forward both ways.
- `delay`: forward every chunk `delay_ms` late (order kept in each direction).
- `hang`: accept, and forward nothing in either direction: bytes sent are held, as a
  network that black-holes packets holds them in retransmission. Back in `pass` (or
  `delay`) the held bytes go through, as TCP would deliver them once the path heals;
  a connection accepted during the hang is connected upstream then.
- `reset`: every open connection is reset (RST, both sides) and every new one is
  reset as soon as it is accepted.

The proxy runs its own asyncio loop in a daemon thread; `close()` stops it within a
bounded time, whatever the connections are doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

PASS, DELAY, HANG, RESET = "pass", "delay", "hang", "reset"
MODES = (PASS, DELAY, HANG, RESET)
CHUNK = 64 * 1024
T = TypeVar("T")


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close at once with an RST rather than a FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Conn:
    def __init__(self, client_w: asyncio.StreamWriter) -> None:
        self.writers: list[asyncio.StreamWriter] = [client_w]
        self.task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        for w in self.writers:
            _abort_with_rst(w)
        if self.task is not None:
            self.task.cancel()


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards to `upstream`: `("tcp", host, port)`
    or `("unix", path)`."""

    def __init__(self, upstream: tuple[Any, ...], mode: str = PASS, delay_ms: int = 0) -> None:
        if upstream[0] not in ("tcp", "unix"):
            raise ValueError(f"upstream must be ('tcp', host, port) or ('unix', path): {upstream}")
        self.upstream = upstream
        self.mode = mode
        self.delay_ms = delay_ms
        self.accepted = 0
        self.port = 0
        self._conns: set[_Conn] = set()
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()  # set unless hanging; only touched in the loop
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._call(self._start(), timeout_s=10)
        except BaseException:
            self.close()
            raise

    # -- called from the test's thread ---------------------------------------------

    def set_mode(self, mode: str, delay_ms: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self._call(self._set_mode(mode, delay_ms), timeout_s=10)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop listening, drop every connection, stop the loop: bounded."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._shutdown(), timeout_s=timeout_s)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    # -- in the proxy's loop -----------------------------------------------------------

    async def _start(self) -> None:
        if self.mode != HANG:
            self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set_mode(self, mode: str, delay_ms: int | None) -> None:
        self.mode = mode
        if delay_ms is not None:
            self.delay_ms = delay_ms
        if mode == HANG:
            self._flowing.clear()
        else:
            self._flowing.set()
        if mode == RESET:
            for c in list(self._conns):
                c.reset()
            self._conns.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self._conns):
            c.reset()
        self._conns.clear()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.wait(tasks, timeout=5) if tasks else None

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == RESET:
            _abort_with_rst(client_w)
            return
        conn = _Conn(client_w)
        conn.task = asyncio.current_task()
        self._conns.add(conn)
        try:
            await self._flowing.wait()  # a hang: accepted, never connected upstream
            if self.mode == RESET:
                return  # reset while waiting: _set_mode has aborted the client already
            if self.upstream[0] == "tcp":
                up_r, up_w = await asyncio.open_connection(self.upstream[1], self.upstream[2])
            else:
                up_r, up_w = await asyncio.open_unix_connection(self.upstream[1])
            conn.writers.append(up_w)
            await asyncio.gather(self._pump(client_r, up_w), self._pump(up_r, client_w))
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Reset or closed: end quietly (asyncio logs a client task that ends
            # cancelled as an error in its connection callback).
            pass
        finally:
            self._conns.discard(conn)
            for w in conn.writers:
                w.transport.abort()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while True:
            data = await src.read(CHUNK)
            if not data:
                break
            await self._flowing.wait()  # held while hanging
            if self.mode == DELAY and self.delay_ms > 0:
                await asyncio.sleep(self.delay_ms / 1000)
                await self._flowing.wait()  # a hang may have begun meanwhile
            dst.write(data)
            await dst.drain()
        with contextlib.suppress(OSError):
            if dst.can_write_eof():
                dst.write_eof()
