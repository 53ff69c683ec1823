"""The raw WebSocket ceiling for bench_ws.py: the plainest broadcaster we know of
(`websockets.broadcast`, no framework, no Redis, no rendering), sending a frame of
--size bytes to every connected client every --interval seconds. Each frame carries
its send time (epoch ms), so clients on the same machine measure pure fan-out latency.

    .venv/bin/python bench/raw_ws.py --port 8158 --interval 0.15 --size 1500
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from websockets.asyncio.server import broadcast, serve

CLIENTS: set[Any] = set()


async def handler(ws: Any) -> None:
    CLIENTS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        CLIENTS.discard(ws)


async def main(args: argparse.Namespace) -> None:
    pad = "x" * max(0, args.size - 60)
    seq = 0
    async with serve(handler, "127.0.0.1", args.port, compression=None, max_queue=None):
        while True:
            await asyncio.sleep(args.interval)
            seq += 1
            broadcast(CLIENTS, f'{{"seq":{seq},"sent_ms":{time.time() * 1000:.1f},"pad":"{pad}"}}')


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=8158)
    p.add_argument("--interval", type=float, default=0.15)
    p.add_argument("--size", type=int, default=1500)
    asyncio.run(main(p.parse_args()))
