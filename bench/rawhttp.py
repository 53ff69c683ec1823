"""A lean HTTP/1.1 keep-alive client for load generation on a small machine.

httpx spends a few hundred µs of CPU per request; on a 2-core box that is a core the
server under test no longer has. This client writes the request bytes and reads one
Content-Length body back: tens of µs per request, so the figures measure the server.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Timings:
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: bytes = b""
    ) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        ).encode()
        self.writer.write(head + headers + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        lower = raw.lower()
        at = lower.find(b"content-length:")
        if at < 0:
            raise RuntimeError(f"no Content-Length in response: {raw[:200]!r}")
        length = int(lower[at + 15 : lower.find(b"\r\n", at)])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def hammer(
    host: str, port: int, requests: list[tuple[str, str, bytes, bytes]], concurrency: int
) -> tuple[Timings, list[bytes], float]:
    """Send every (method, path, body, headers) over `concurrency` keep-alive
    connections; returns timings, response bodies (in order) and the wall time."""
    timings = Timings()
    bodies: list[bytes] = [b""] * len(requests)
    cursor = iter(range(len(requests)))

    async def worker() -> None:
        conn = await Connection(host, port).open()
        try:
            for i in cursor:
                method, path, body, headers = requests[i]
                began = time.perf_counter()
                status, bodies[i] = await conn.request(method, path, body, headers)
                timings.latencies_s.append(time.perf_counter() - began)
                timings.statuses[status] = timings.statuses.get(status, 0) + 1
        finally:
            conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timings, bodies, time.perf_counter() - began
