"""SLO gates for a Locust run: the figures a flash sale must hold, checked at the end of
the run; any violation makes the process exit 1 (CI and scripts read the exit code)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Slo:
    max_fail_ratio: float = 0.01  # of all requests, WebSocket frames included
    ingest_p99_ms: float = 500.0  # every ingest entry (batched and single)
    min_requests: int = 1  # a run that sent nothing proves nothing


def violations(stats: Any, slo: Slo, ingest_names: Iterable[str]) -> list[str]:
    """What broke the SLO in a locust `RequestStats`; empty when the run passed."""
    out: list[str] = []
    total = stats.total
    if total.num_requests < slo.min_requests:
        out.append(f"only {total.num_requests} requests (need {slo.min_requests})")
    if total.fail_ratio > slo.max_fail_ratio:
        out.append(f"failure ratio {total.fail_ratio:.2%} > {slo.max_fail_ratio:.2%}")
    names = set(ingest_names)
    for (name, _method), entry in stats.entries.items():
        if name in names and entry.num_requests:
            p99 = entry.get_response_time_percentile(0.99)
            if p99 > slo.ingest_p99_ms:
                out.append(f"p99 of {name!r} {p99:.0f} ms > {slo.ingest_p99_ms:.0f} ms")
    return out


def summary(stats: Any, ingest_names: Iterable[str]) -> str:
    parts = [f"{stats.total.num_requests} requests", f"failures {stats.total.fail_ratio:.2%}"]
    for (name, _method), entry in sorted(stats.entries.items()):
        if name in set(ingest_names) and entry.num_requests:
            p50 = entry.get_response_time_percentile(0.5)
            p99 = entry.get_response_time_percentile(0.99)
            parts.append(f"{name}: {entry.num_requests} req, p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    return "; ".join(parts)
