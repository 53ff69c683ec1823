"""A bound on the request head (request line and headers) that the web process reads.

uvicorn's httptools protocol has no limit of its own: a client could send a 40 MB
header, and the parser's bindings build the value piece by piece (the loop was seen
stalled for 3 s). This protocol counts the bytes of the head as they arrive and answers
431 and closes the connection once it passes `MAX_HEAD_BYTES`, before parsing more;
the body is not counted (the app's body limit covers it). Browsers and proxies send
heads of a few KiB; 64 KiB is what nginx accepts by default (4 x 8k buffers) and more.

It also bounds the time a request may take to arrive. uvicorn times out an idle
keep-alive connection, but not a fresh connection that sends nothing, nor a head or a
body sent a byte at a time: one client held 1,000 such half-sent requests, each a
connection and, once the head was in, a task. Here every request (head and body) must
be in within `read_timeout_s` of its first byte (of the connection, for the first):
else a head still arriving is answered 408, and the connection is closed either way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from warroom.adapters.metrics.catalogue import REFUSED

MAX_HEAD_BYTES = 64 * 1024
READ_TIMEOUT_S = 30.0
_REFUSAL = b"request header fields too large"
_TOO_SLOW = b"request not received in time"


class BoundedHeadProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    read_timeout_s = READ_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._arm_read_deadline()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm_read_deadline()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm_read_deadline()  # the socket is the WebSocket protocol's from here
        super().handle_websocket_upgrade()

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout_s, self._too_slow)

    def _disarm_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        self.logger.info("request not in after %g s: connection closed", self.read_timeout_s)
        if self._in_head:  # nothing answered yet: say why
            REFUSED.labels("read_timeout").inc()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\n"
                b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: " + str(len(_TOO_SLOW)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + _TOO_SLOW
            )
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._in_head or self._head_bytes + len(data) <= self.max_head_bytes:
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            return
        # Feed up to the limit: a head that ends within it (the rest being body, or the
        # next request) goes on as usual; one that does not is refused unparsed.
        room = self.max_head_bytes - self._head_bytes
        self._head_bytes = self.max_head_bytes
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse()
            return
        super().data_received(data[room:])

    def _refuse(self) -> None:
        self.logger.warning("request head over %d bytes: refused with 431", self.max_head_bytes)
        REFUSED.labels("header_bytes").inc()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(_REFUSAL)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _REFUSAL
        )
        self.transport.close()
