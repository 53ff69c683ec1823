"""The drill's bookkeeping, apart from Locust's users (locustfile.py):

- `prepare`: the campaign under load (created unless --slug names one), its totals
  before the run, and an in-run baseline: the median of a few single-event POSTs on a
  quiet campaign, what this deployment does when nothing else is going on;
- `Tally`: what the users sent and the server recorded (answered 202), summed so the
  end of the run can check that the campaign's totals equal it: nothing lost, nothing
  counted twice. A request whose fate is unknown (5xx, a dropped connection) is re-sent
  at the end until answered: identities make that safe, and the tally exact;
- the probe: one greenlet per Locust process posts a tiny order every --probe-interval-s
  into a minute reserved for that process before the sale (its own `per_minute` row),
  one at a time. Each viewer knows when probe k was sent; the first frame whose row for
  that minute counts k orders is the first screen that includes probe k. That is the
  ingest-to-screen latency, measured by the viewers themselves;
- `settle_and_compare`: waits (with a deadline) for the totals to reach what was sent,
  then compares them exactly.
"""

from __future__ import annotations

import logging
import secrets
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import gevent
import httpx

log = logging.getLogger("warroom.loadtest")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe otherwise
MIN_MS = 60_000
IDENTITY = {
    "order": "order_id",
    "refund": "refund_id",
    "message": "message_id",
    "member": "event_id",
}
CHECKED = ("orders", "gmv_fen", "items", "messages")


@dataclass
class Tally:
    orders: int = 0
    gmv_fen: int = 0
    items: int = 0
    messages: int = 0

    def add(self, events: list[dict[str, Any]], rejected: frozenset[int] = frozenset()) -> None:
        for i, e in enumerate(events):
            if i in rejected:
                continue
            if e["type"] == "order":
                self.orders += 1
                self.gmv_fen += e["amount_fen"]
                self.items += e.get("quantity", 1)
            elif e["type"] == "message":
                self.messages += 1

    def merge(self, other: dict[str, int]) -> None:
        for k in CHECKED:
            setattr(self, k, getattr(self, k) + int(other.get(k, 0)))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Api:
    """The few calls the drill makes outside Locust's users (setup, probe, checks)."""

    def __init__(self, host: str, timeout: float = 30.0) -> None:
        self.host = host.rstrip("/")
        self.http = httpx.Client(base_url=self.host, timeout=timeout)

    def create_campaign(self, admin_token: str) -> dict[str, str]:
        from warroom.demo_campaign import demo_settings, doors_open_today

        slug = f"load-{secrets.token_hex(4)}"
        body = demo_settings(slug, 60, doors_open_today())
        res = self.http.post(
            "/api/v1/campaigns", json=body, headers={"Authorization": f"Bearer {admin_token}"}
        )
        if res.status_code != 201:
            raise RuntimeError(f"cannot create a campaign ({res.status_code}): {res.text}")
        return {"slug": slug, **res.json()}

    def snapshot(self, slug: str, viewer_token: str) -> dict[str, Any]:
        res = self.http.get(
            f"/api/v1/campaigns/{slug}/snapshot",
            headers={"Authorization": f"Bearer {viewer_token}"},
        )
        res.raise_for_status()
        return res.json()

    def post(self, slug: str, ingest_token: str, events: list[dict[str, Any]]) -> httpx.Response:
        return self.http.post(
            f"/api/v1/campaigns/{slug}/events",
            json=events,
            headers={"Authorization": f"Bearer {ingest_token}"},
        )


def repeats(day: list[dict[str, Any]]) -> list[bool]:
    """Which of the day's events repeat an identity already sent (the simulator's
    at-least-once senders re-send now and then): the ledger counts those once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for e in day:
        key = (e["type"], e[IDENTITY[e["type"]]])  # a refund also names its order_id
        out.append(key in seen)
        seen.add(key)
    return out


def minute_ms(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339).timestamp() * 1000)


def probe_order(run: str, index: int, k: int, ts_ms: int) -> dict[str, Any]:
    return {
        "type": "order",
        "order_id": f"probe-{run}-{index}-{k}",
        "amount_fen": 1,
        "seller_id": "probe",
        "group_id": "probe",
        "buyer_id": f"probe-{run}",
        "product_id": "probe",
        "seller_name": "压测探针",
        "ts": ts_ms,
    }


def prepare(opts: Any, host: str) -> dict[str, Any]:
    """Campaign, starting totals and baseline; stored on `opts` so that Locust hands
    them to every worker process of a distributed run with the spawn message."""
    api = Api(host)
    if not opts.slug:
        made = api.create_campaign(opts.admin_token)
        opts.slug, opts.ingest_token = made["slug"], made["ingest_token"]
        opts.viewer_token = made["viewer_token"]
        print(f"load campaign {opts.slug} (viewer token {opts.viewer_token})", flush=True)
    snap = api.snapshot(opts.slug, opts.viewer_token)
    opts.run_id = secrets.token_hex(3)
    # The probes' minutes: before the sale and before the campaign clock (so no ts
    # rule rejects them), at a run-dependent distance so runs never share a row.
    c = snap["campaign"]
    first = min(minute_ms(c["starts_at"]), minute_ms(c["now"])) // MIN_MS * MIN_MS
    opts.probe_base_ms = first - (90 + secrets.randbelow(600)) * MIN_MS
    start = {k: snap["totals"][k] for k in CHECKED}
    # Baselines: requests one at a time on a campaign nobody else loads yet.
    tally = Tally()
    serial = iter(range(10**9))

    def quiet(posts: int, size: int) -> float:
        took: list[float] = []
        for _ in range(posts):
            evs = [
                probe_order(opts.run_id, 999, next(serial), opts.probe_base_ms - MIN_MS)
                for _ in range(size)
            ]
            began = time.perf_counter()
            res = api.post(opts.slug, opts.ingest_token, evs)
            took.append((time.perf_counter() - began) * 1000)
            if res.status_code != 202:
                raise RuntimeError(f"baseline POST answered {res.status_code}: {res.text[:200]}")
            tally.add(evs)
        return statistics.median(took) if took else 0.0

    opts.baseline_ms = quiet(opts.baseline_posts, 1)
    opts.batch_baseline_ms = quiet(max(1, opts.baseline_posts // 4), opts.batch_size)
    print(
        f"baseline on a quiet campaign: single POST p50 {opts.baseline_ms:.1f} ms, "
        f"batch of {opts.batch_size} p50 {opts.batch_baseline_ms:.1f} ms",
        flush=True,
    )
    return {"start": start, "tally": tally}


class Probe:
    """One per Locust process: probes sent one at a time, each re-sent until answered
    202 so that probe k is the k-th order of this process's row."""

    def __init__(self, opts: Any, host: str, index: int) -> None:
        self.opts = opts
        self.api = Api(host, timeout=10)
        self.index = index
        self.minute_ms = opts.probe_base_ms + index * MIN_MS
        self.sent: list[float] = []  # perf_counter of the first attempt of probe k+1
        self.tally = Tally()
        self.offset = 0
        self.label = ""  # this minute's label as frames spell it, once seen
        self._greenlet: Any = None
        self._stop = False

    def count_in(self, frame: dict[str, Any], minutes: dict[str, int]) -> int | None:
        """How many of this process's probes the frame shows (None: not said)."""
        rows = frame.get("per_minute")
        if rows is None:
            return None
        for row in rows:
            key = row["minute"]
            ms = minutes.get(key)
            if ms is None:
                ms = minutes[key] = minute_ms(key)
            if ms == self.minute_ms:
                self.label = key
                return max(0, row["orders"] - self.offset)
        return 0 if frame.get("type") == "snapshot" else None

    def start(self, fire: Any) -> None:
        snap = self.api.snapshot(self.opts.slug, self.opts.viewer_token)
        self.offset = self.count_in(snap, {}) or 0
        self._greenlet = gevent.spawn(self._run, fire)

    def stop(self) -> None:
        self._stop = True
        if self._greenlet is not None:
            self._greenlet.join(timeout=30)

    def _run(self, fire: Any) -> None:
        k = 0
        while not self._stop:
            k += 1
            ev = probe_order(self.opts.run_id, self.index, k, self.minute_ms + 1000)
            first = time.perf_counter()
            while True:  # the same identity until it is surely recorded
                began = time.perf_counter()
                exc: Exception | None = None
                try:
                    res = self.api.post(self.opts.slug, self.opts.ingest_token, [ev])
                    if res.status_code != 202:
                        exc = RuntimeError(f"{res.status_code}: {res.text[:200]}")
                except httpx.HTTPError as e:
                    exc = e
                fire(
                    request_type="POST",
                    name="POST events [probe]",
                    response_time=(time.perf_counter() - began) * 1000,
                    response_length=0,
                    exception=exc,
                    context={},
                )
                if exc is None:
                    break
                gevent.sleep(0.5)
            self.sent.append(first)
            self.tally.add([ev])
            gevent.sleep(self.opts.probe_interval_s)


def resend(
    api: Api, opts: Any, batches: list[tuple[list[dict[str, Any]], frozenset[int]]], tally: Tally
) -> int:
    """Re-send the batches whose fate is unknown until answered; returns how many
    stayed unknown (then the totals cannot be checked exactly)."""
    unknown = 0
    for batch, again in batches:
        for attempt in range(10):
            try:
                res = api.post(opts.slug, opts.ingest_token, batch)
            except httpx.HTTPError:
                res = None
            if res is not None and res.status_code == 202:
                body = res.json()
                tally.add(batch, again | frozenset(r["index"] for r in body["rejected"]))
                break
            if res is not None and res.status_code in (400, 401, 404, 413):
                break  # refused whole: certainly not recorded
            time.sleep(min(5.0, 0.2 * 2**attempt))
        else:
            unknown += 1
    return unknown


def settle_and_compare(
    host: str, opts: Any, start: dict[str, int], sent: Tally, timeout_s: float
) -> list[str]:
    """Problems with the campaign's totals once the pipeline has caught up (none: the
    totals moved by exactly what was sent)."""
    api = Api(host)
    expected = {k: start[k] + v for k, v in sent.as_dict().items()}
    deadline = time.monotonic() + timeout_s
    got: dict[str, int] = {}
    while True:
        totals = api.snapshot(opts.slug, opts.viewer_token)["totals"]
        got = {k: totals[k] for k in CHECKED}
        if got == expected or any(got[k] > expected[k] for k in CHECKED):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"totals: sent {sent.as_dict()}, campaign moved by "
          f"{ {k: got[k] - start[k] for k in CHECKED} }", flush=True)  # fmt: skip
    return [
        f"totals {k}: campaign has {got[k]}, expected {expected[k]}"
        for k in CHECKED
        if got[k] != expected[k]
    ]
