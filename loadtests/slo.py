"""SLO gates for a Locust run: the figures a flash sale must hold, checked at the end of
the run; any violation makes the process exit 1 (CI and scripts read the exit code).

Latency gates are absolute (milliseconds). With `scale` > 0 each becomes the larger
of its figure and `scale` times an in-run baseline: the median of the same kind of
request (a single-event POST, a batch) on a quiet campaign, measured at the start of
the same run (ingest-to-screen uses the single POST's). A slower machine gets
proportionally more room, so a CI run on hardware of unknown speed judges the system,
not the hardware. A production drill leaves `scale` at 0: the absolute figures hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SCREEN = "ingest-to-screen"


@dataclass(frozen=True)
class Slo:
    max_fail_ratio: float = 0.01  # of all requests, WebSocket frames included
    ingest_p99_ms: float = 500.0  # each ingest entry (batched and single)
    screen_p95_ms: float = 1000.0  # a probe order's POST to the first frame showing it
    screen_p99_ms: float = 2000.0
    min_requests: int = 1  # a run that sent nothing proves nothing
    min_screen_samples: int = 0  # with viewers: at least this many latencies measured
    scale: float = 0.0  # see the module docstring; 0: absolute figures only
    baseline_ms: float = 0.0  # a quiet single-event POST, this run
    baselines: tuple[tuple[str, float], ...] = ()  # (entry name, quiet median) overrides

    def limit(self, ms: float, name: str = "") -> float:
        if self.scale <= 0:
            return ms
        base = dict(self.baselines).get(name, self.baseline_ms)
        return max(ms, self.scale * base)


def _p(entry: Any, q: float) -> float:
    return float(entry.get_response_time_percentile(q))


def violations(stats: Any, slo: Slo, ingest_names: Iterable[str]) -> list[str]:
    """What broke the SLO in a locust `RequestStats`; empty when the run passed."""
    out: list[str] = []
    total = stats.total
    if total.num_requests < slo.min_requests:
        out.append(f"only {total.num_requests} requests (need {slo.min_requests})")
    if total.fail_ratio > slo.max_fail_ratio:
        out.append(f"failure ratio {total.fail_ratio:.2%} > {slo.max_fail_ratio:.2%}")
    names = set(ingest_names)
    screen = None
    for (name, _method), entry in stats.entries.items():
        if name == SCREEN:
            screen = entry
        if name in names and entry.num_requests:
            p99, limit = _p(entry, 0.99), slo.limit(slo.ingest_p99_ms, name)
            if p99 > limit:
                out.append(f"p99 of {name!r} {p99:.0f} ms > {limit:.0f} ms")
    samples = screen.num_requests if screen is not None else 0
    if samples < slo.min_screen_samples:
        out.append(f"only {samples} ingest-to-screen samples (need {slo.min_screen_samples})")
    if screen is not None and samples:
        for q, ms in ((0.95, slo.screen_p95_ms), (0.99, slo.screen_p99_ms)):
            got, limit = _p(screen, q), slo.limit(ms)
            if got > limit:
                out.append(f"ingest-to-screen p{round(q * 100)} {got:.0f} ms > {limit:.0f} ms")
    return out


def summary(stats: Any, ingest_names: Iterable[str]) -> str:
    parts = [f"{stats.total.num_requests} requests", f"failures {stats.total.fail_ratio:.2%}"]
    wanted = {*ingest_names, SCREEN}
    for (name, _method), entry in sorted(stats.entries.items()):
        if name in wanted and entry.num_requests:
            p50, p95, p99 = _p(entry, 0.5), _p(entry, 0.95), _p(entry, 0.99)
            parts.append(
                f"{name}: {entry.num_requests} samples, p50 {p50:.0f} ms, "
                f"p95 {p95:.0f} ms, p99 {p99:.0f} ms"
            )
    return "; ".join(parts)
