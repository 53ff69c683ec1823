"""A bound on the request head (request line and headers) that the web process reads.

uvicorn's httptools protocol has no limit of its own: a client could send a 40 MB
header, and the parser's bindings build the value piece by piece (the loop was seen
stalled for 3 s). This protocol counts the bytes of the head as they arrive and answers
431 and closes the connection once it passes `MAX_HEAD_BYTES`, before parsing more;
the body is not counted (the app's body limit covers it). Browsers and proxies send
heads of a few KiB; 64 KiB is what nginx accepts by default (4 x 8k buffers) and more.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
_REFUSAL = b"request header fields too large"


class BoundedHeadProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

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
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(_REFUSAL)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + _REFUSAL
        )
        self.transport.close()
