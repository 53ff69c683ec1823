"""The Prometheus text of a process: its own metrics (or, under `warroom serve`, every
child's, through prometheus_client's multiprocess files), then the figures read at
scrape time (services/vitals.py), and the access rule both `/metrics` ports share."""

from __future__ import annotations

import hmac
import ipaddress
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from warroom.adapters.metrics.catalogue import campaign_label

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def fresh_multiprocess_dir(path: Path) -> Path:
    """An empty directory for the processes of one `serve` to share their metrics in
    (a previous run's files would add its counts to ours)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True)
    return path


def forget_process(pid: int, path: str) -> None:
    """A child that exited: its live gauges (viewers) leave the sum; its counters stay."""
    from prometheus_client import multiprocess as mp

    mp.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def own_metrics() -> CollectorRegistry:
    """This process's metrics; under `serve` (the multiprocess directory is set) those
    of every process that shares the directory, the workers' included."""
    if not multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class Sampled(Collector):
    """Gauges from one vitals reading (services/vitals.Reading): built per scrape."""

    def __init__(self, reading: object) -> None:
        self.reading = reading

    def collect(self) -> Iterator[Metric]:
        r = self.reading
        campaigns = getattr(r, "campaigns", [])
        live = GaugeMetricFamily(
            "warroom_campaign_live",
            "Live campaigns under the label: 1 for a campaign of its own, the count for "
            "`_other` (the campaigns beyond the label limit).",
            labels=["campaign"],
        )
        pending = GaugeMetricFamily(
            "warroom_stream_pending_events",
            "Accepted events not yet applied to the live figures.",
            labels=["campaign"],
        )
        lag = GaugeMetricFamily(
            "warroom_settled_lag_seconds",
            "Campaign clock minus the settled watermark, live campaigns.",
            labels=["campaign"],
        )
        restoring = GaugeMetricFamily(
            "warroom_restoring",
            "1 while the campaign's figures are restored from the ledger.",
            labels=["campaign"],
        )
        queued = GaugeMetricFamily(
            "warroom_webhook_queue_deliveries",
            "Webhook deliveries waiting (pending or being sent).",
            labels=["campaign"],
        )
        # One series per label: the campaigns beyond the label limit share `_other`,
        # which sums them (the worst lag for the lag), never repeats a series.
        folded: dict[str, list[Any]] = {}
        for c in campaigns:
            row = folded.setdefault(campaign_label(c.slug), [0, None, None, 0, 0])
            row[0] += 1
            if c.pending_events is not None:
                row[1] = (row[1] or 0) + c.pending_events
            if c.settled_lag_s is not None:
                row[2] = c.settled_lag_s if row[2] is None else max(row[2], c.settled_lag_s)
            row[3] += 1 if c.restoring else 0
            row[4] += c.queued_deliveries
        for name, (n, waiting, worst, restored, queue) in folded.items():
            label = [name]
            live.add_metric(label, n)
            if waiting is not None:
                pending.add_metric(label, waiting)
            if worst is not None:
                lag.add_metric(label, worst)
            restoring.add_metric(label, restored)
            queued.add_metric(label, queue)
        yield from (live, pending, lag, restoring, queued)
        count = GaugeMetricFamily("warroom_campaigns_live", "Live campaigns.")
        count.add_metric([], len(campaigns))
        yield count
        up = GaugeMetricFamily(
            "warroom_dependency_up", "1 when the dependency answers.", labels=["dependency"]
        )
        for name, ok in sorted(getattr(r, "dependencies", {}).items()):
            up.add_metric([name], 1 if ok else 0)
        yield up


def render(reading: object) -> bytes:
    """The whole text exposition: the process's metrics, then the sampled gauges (two
    registries, no family twice: text format allows them one after the other)."""
    sampled = CollectorRegistry(auto_describe=False)
    sampled.register(Sampled(reading))
    return generate_latest(own_metrics()) + generate_latest(sampled)


def refusal(authorization: str | None, client_host: str | None, token: str | None) -> int:
    """0 when the scrape may read /metrics, else the status to answer: with a token set,
    it must come as a bearer (401); without one, only loopback clients (403)."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return 0
        return 401
    return 0 if is_loopback(client_host) else 403


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def sample_values(
    name: str, registry: CollectorRegistry | None = None
) -> Iterable[tuple[dict[str, str], float]]:
    """Every sample of one metric family in this process (or under `serve`, every
    process): (labels, value) pairs, for the console's engineers' page."""
    for family in (registry or own_metrics()).collect():
        for s in family.samples:
            if s.name == name:
                yield s.labels, s.value
