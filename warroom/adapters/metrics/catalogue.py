"""Every metric Warroom exposes, in one place (docs/operations.md, "Metrics").

Names follow Prometheus conventions: `warroom_<noun>_<unit>`, `_total` for counters,
seconds and bytes as base units. Each is incremented where its fact becomes true (an
accepted event when the ledger answered, a frame when it was sent), by the module that
makes it true. Labels are bounded: campaign slugs (at most `CampaignLabels.limit` per
process, the rest as `_other`), outcomes, kinds and reasons from fixed sets; never a
token, a person, a buyer or a group.

Under `warroom serve` the processes share PROMETHEUS_MULTIPROC_DIR (set before
prometheus_client is imported), so the web's `/metrics` shows the workers' counters
too; a gauge's `multiprocess_mode` says how the processes' values combine.

Figures read from Redis and SQL when scraped (pending events, settled lag, dependency
state, ...) are not here: `exposition.Sampled` builds them from `services/vitals.py`.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

OTHER = "_other"  # the campaign label beyond the per-process limit

# Latency buckets (seconds): from a fast commit (1 ms) to the dependency timeout (5 s).
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZES = (1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000)


class CampaignLabels:
    """The campaign label: the slug for the first `limit` campaigns a process counts,
    `_other` for the rest, so a deployment with thousands of campaigns cannot grow a
    process's series without bound. WARROOM_METRICS_MAX_CAMPAIGNS sets the limit."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, slug: str) -> str:
        if slug in self._seen:
            return slug
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(slug)
            return slug


campaign_label = CampaignLabels()

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"


def count_answer(
    slug: str,
    handed: Iterable[str],
    not_new: Iterable[tuple[str, str]] = (),
    early: Mapping[tuple[str, str], int] | None = None,
) -> None:
    """Count one answer's events: `handed` is the type of every event handed to the
    ledger (tallied in C: the per-event cost on the hot path), `not_new` the (type,
    outcome) of each of those that came back a duplicate or rejected, `early` the
    (type, `rejected`) counts of events refused before the ledger."""
    counts: Tally[tuple[str, str]] = Tally(early or {})
    accepted = Tally(handed)
    for kind, outcome in not_new:
        accepted[kind] -= 1
        counts[kind, outcome] += 1
    for kind, n in accepted.items():
        counts[kind, ACCEPTED] += n
    count_events(slug, counts)


def count_events(slug: str, counts: Mapping[tuple[str, str], int]) -> None:
    """One answer's events, by (type, outcome): a label lookup per kind, not per event."""
    campaign = campaign_label(slug)
    for (kind, outcome), n in counts.items():
        if n:
            EVENTS.labels(campaign, kind, outcome).inc(n)


# -- ingest (web) -------------------------------------------------------------------

EVENTS = Counter(
    "warroom_events_total",
    "Events answered, by campaign, event type and outcome (accepted, duplicate, rejected); "
    "counted when the answer is made.",
    ["campaign", "type", "outcome"],
)
INGEST_SECONDS = Histogram(
    "warroom_ingest_request_seconds",
    "Time to answer an ingest request (events API, source hook, import chunk), by path.",
    ["via"],
    buckets=FAST,
)
LEDGER_COMMIT_SECONDS = Histogram(
    "warroom_ledger_commit_seconds",
    "Time of one ledger transaction (a batch of requests' events).",
    buckets=FAST,
)
LEDGER_BATCH_EVENTS = Histogram(
    "warroom_ledger_batch_events",
    "Events written by one ledger transaction.",
    buckets=SIZES,
)
STREAM_APPEND_SECONDS = Histogram(
    "warroom_stream_append_seconds",
    "Time to append a ledger batch to the campaigns' Redis streams.",
    buckets=FAST,
)
REFUSED = Counter(
    "warroom_refused_total",
    "Requests (or sockets) refused by a limit, by the limit (LIMITS below).",
    ["limit"],
)
DEPENDENCY_TIMEOUTS = Counter(
    "warroom_dependency_timeouts_total",
    "Requests answered 503 because a dependency (redis, database) did not answer in time "
    "or refused.",
    ["dependency"],
)
# Every known label value starts at 0, so that the first refusal is an increase that
# `increase()` sees (a series born at 1 has no earlier sample to rise from).
LIMITS = (
    "body_bytes",
    "events_per_request",
    "pending_events",
    "login_throttle",
    "sockets_per_address",
    "replays",
    "read_timeout",
    "header_bytes",
    "import_bytes",
)
DEPENDENCIES = ("redis", "database", "timeout", "unknown")
for _limit in LIMITS:
    REFUSED.labels(_limit)
for _dependency in DEPENDENCIES:
    DEPENDENCY_TIMEOUTS.labels(_dependency)

HTTP_RESPONSES = Counter(
    "warroom_http_responses_total",
    "HTTP responses by status code (WebSocket handshakes excluded).",
    ["code"],
)

# -- aggregation, restores (worker) ---------------------------------------------------

AGG_BATCH_EVENTS = Histogram(
    "warroom_aggregation_batch_events",
    "Events applied to hot state by one aggregator batch.",
    buckets=SIZES,
)
AGG_BATCH_SECONDS = Histogram(
    "warroom_aggregation_batch_seconds",
    "Time to apply one aggregator batch (read to acknowledge).",
    buckets=FAST,
)
APPLIED_EVENTS = Counter(
    "warroom_applied_events_total",
    "Events the aggregator applied to hot state, by campaign.",
    ["campaign"],
)
RESTORES = Counter(
    "warroom_restores_total",
    "Hot-state restores from the ledger, by reason: lost (the figures were gone) or "
    "rebuild (`warroom rebuild`).",
    ["reason"],
)
RESTORE_SECONDS = Histogram(
    "warroom_restore_seconds",
    "Time of one campaign's restore from the ledger.",
    ["reason"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
LAST_RESTORE = Gauge(
    "warroom_last_restore_timestamp_seconds",
    "Unix time of the last finished restore (0: none since the process started).",
    multiprocess_mode="max",
)

# -- triggers, reports, stimuli (worker) --------------------------------------------------

TICK_SECONDS = Histogram(
    "warroom_trigger_tick_seconds",
    "Time of one trigger tick over the campaigns changed or due.",
    buckets=FAST,
)
TRIGGER_EVALUATIONS = Counter(
    "warroom_trigger_evaluations_total",
    "Campaigns evaluated by the trigger worker (changed, or a moment due).",
)
RULE_EVALUATIONS = Counter(
    "warroom_rule_evaluations_total",
    "Stimulus rule evaluations, by their decision's reason (fire, sustaining, no_peak, "
    "restoring, no_events, feed_silent, ended, max_fires, budget, paused, ...).",
    ["reason"],
)
RULE_HOLDS = Counter(
    "warroom_rule_holds_total",
    "Rule evaluations held back because the figures could not be trusted, by reason "
    "(restoring, no_events, feed_silent).",
    ["reason"],
)
REPORTS = Counter(
    "warroom_reports_total",
    "Reports claimed and written (exactly once each), by campaign and kind.",
    ["campaign", "kind"],
)
FIRES = Counter(
    "warroom_stimulus_fires_total",
    "Stimulus actions fired (automatic or manual), by campaign.",
    ["campaign"],
)

# -- webhooks (worker) -----------------------------------------------------------------

DELIVERIES = Counter(
    "warroom_webhook_deliveries_total",
    "Webhook delivery attempts, by target kind and outcome (delivered, retry, failed).",
    ["kind", "outcome"],
)
# Known target kinds (adapters/outbound/webhook.FORMATS, and `other`) start at 0 for
# each outcome, so that the first failure is an increase an alert can see.
DELIVERY_KINDS = ("wecom", "wecom_text", "wecom_image", "wecom_image_masked", "json", "other")
for _kind in DELIVERY_KINDS:
    for _outcome in ("delivered", "retry", "failed"):
        DELIVERIES.labels(_kind, _outcome)
DELIVERY_SECONDS = Histogram(
    "warroom_webhook_delivery_seconds",
    "Time of one webhook delivery attempt, by target kind.",
    ["kind"],
    buckets=FAST,
)

# -- screens (web) ---------------------------------------------------------------------

VIEWERS = Gauge(
    "warroom_viewers",
    "Open dashboard sockets, by campaign.",
    ["campaign"],
    multiprocess_mode="livesum",
)
FRAMES = Counter(
    "warroom_frames_total",
    "Frames sent to viewers (one per viewer per frame).",
)
RENDERS = Counter(
    "warroom_renders_total",
    "Frames rendered (once per campaign room, shared by its viewers).",
)
RENDER_SECONDS = Histogram(
    "warroom_render_seconds",
    "Time to render one frame for a room (read hot state, build, encode).",
    buckets=FAST,
)
EVICTIONS = Counter(
    "warroom_viewer_evictions_total",
    "Viewers closed by the server, by reason (stalled, rotated, revoked, gone, shutdown).",
    ["reason"],
)
RESYNCS = Counter(
    "warroom_viewer_resyncs_total",
    "Viewers sent a fresh snapshot instead of an update, by reason (gap, asked, queue, blocked).",
    ["reason"],
)

# Every name exposed, including those the sampler builds at scrape time (exposition.py):
# what deploy/'s rules and dashboard may refer to (tests/unit/test_deploy.py checks).
SAMPLED = (
    "warroom_stream_pending_events",
    "warroom_settled_lag_seconds",
    "warroom_campaign_live",
    "warroom_restoring",
    "warroom_dependency_up",
    "warroom_webhook_queue_deliveries",
    "warroom_campaigns_live",
)
