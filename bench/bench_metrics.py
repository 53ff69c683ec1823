"""What the metrics cost on the hot paths, in CPU per request, per event and per frame:
the exact calls the ingest path, the ledger writer and the hub make, timed in a loop.

    .venv/bin/python bench/bench_metrics.py [--rounds 200000]

End-to-end benchmarks (bench_spine, bench_ws) move by more than this from run to run on
a shared 2-core machine, so the increment is also measured here on its own, with
`time.process_time` (CPU, not wall clock), in this process and in prometheus_client's
multiprocess mode (what `warroom serve` runs in: every increment is a write to a
memory-mapped file).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from operator import itemgetter


def per_call_us(fn: Callable[[], None], rounds: int) -> float:
    for _ in range(min(rounds, 1000)):  # warm
        fn()
    start = time.process_time()
    for _ in range(rounds):
        fn()
    return (time.process_time() - start) / rounds * 1e6


def measure(rounds: int) -> dict[str, float]:
    from warroom.adapters.metrics import catalogue as m

    api = m.INGEST_SECONDS.labels("api")
    batch = [{"type": "order"}] * 500

    def request() -> None:  # per HTTP request: the response counter and the histogram
        m.HTTP_RESPONSES.labels("202").inc()
        api.observe(0.0123)

    kind = itemgetter("type")

    def events_500() -> None:  # one answer of 500 accepted events, as the events API counts
        m.count_answer("bench", map(kind, batch))

    def ledger_write() -> None:  # per ledger transaction and stream append
        m.LEDGER_COMMIT_SECONDS.observe(0.002)
        m.LEDGER_BATCH_EVENTS.observe(500)
        m.STREAM_APPEND_SECONDS.observe(0.001)

    frames = m.FRAMES
    renders = m.RENDERS
    render_s = m.RENDER_SECONDS

    def frame_fanout() -> None:  # per render of a room: its time, and the frames sent
        renders.inc()
        render_s.observe(0.004)
        frames.inc(500)

    return {
        "per request (response code, request histogram)": per_call_us(request, rounds),
        "per answer of 500 events (tally in C + counter)": per_call_us(events_500, rounds // 50),
        "per ledger write (two histograms) + stream append": per_call_us(ledger_write, rounds),
        "per room render (render, its time, frames sent)": per_call_us(frame_fanout, rounds),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=200_000)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        for name, us in measure(args.rounds).items():
            print(f"  {name:<52} {us:7.2f} µs")
        return
    print(f"metrics cost, CPU per call, {args.rounds:,} rounds; load {os.getloadavg()[0]:.1f}")
    for mode in ("one process", "multiprocess (serve)"):
        print(mode)
        env = dict(os.environ)
        with tempfile.TemporaryDirectory() as tmp:
            if mode.startswith("multi"):
                env["PROMETHEUS_MULTIPROC_DIR"] = tmp  # before prometheus_client loads
            else:
                env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            subprocess.run(
                [sys.executable, __file__, "--child", "--rounds", str(args.rounds)],
                env=env,
                check=True,
            )


if __name__ == "__main__":
    main()
