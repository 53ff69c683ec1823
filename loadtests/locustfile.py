"""The flash-sale drill: load the whole ingest path and the dashboard socket the way a
flash sale does, then judge the run (docs/scaling.md, "The Locust drill").

    locust --config loadtests/drill.conf --host http://127.0.0.1:8000 \
        --admin-token $WARROOM_ADMIN_TOKEN --ws-viewers 500

Ingest users replay the simulator's day (batched integrations and one-event webhooks)
under fresh identities, without `ts` (stamped on arrival, as a live sale is); viewers
hold dashboard sockets and measure ingest-to-screen latency with the probe (drill.py).
Without --slug a fresh campaign is created with --admin-token, once (by the master of
a distributed run, which hands it to its workers). At the end: the SLO gates (slo.py)
and the totals check set the exit code.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

import gevent
import orjson
from drill import (
    Api,
    Probe,
    Tally,
    prepare,
    repeats,
    resend,
    settle_and_compare,
)  # locust's sys.path
from locust import FastHttpUser, User, between, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from slo import Slo, summary, violations

from warroom.simulator import generate_sale, rekey

log = logging.getLogger("warroom.loadtest")
BATCH, SINGLE, PROBE = "POST events [batch]", "POST events [single]", "POST events [probe]"
HEAD = re.compile(r'\{"type":"(\w+)","seq":(\d+)')  # how every frame of the hub begins
INGEST = (BATCH, SINGLE)  # gated; the probe is an instrument, shown but not gated
# Master or local process: the campaign's starting totals and what was sent overall.
SETUP: dict[str, Any] = {}
# Every process with users: the generated day, its probe, its tally, unsure batches.
STATE: dict[str, Any] = {}
_serial = itertools.count(1)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    g = parser.add_argument_group("warroom")
    g.add_argument("--slug", default="", help="campaign to load; empty: create one")
    g.add_argument("--ingest-token", default="", help="ingest token of --slug")
    g.add_argument("--viewer-token", default="", help="viewer token of --slug")
    g.add_argument("--admin-token", default=os.environ.get("WARROOM_ADMIN_TOKEN", ""))
    g.add_argument("--batch-size", type=int, default=200, help="events per batched POST")
    g.add_argument("--ws-viewers", type=int, default=0, help="dashboard sockets to hold open")
    g.add_argument("--probe-interval-s", type=float, default=0.2, help="probe orders' pace")
    g.add_argument("--baseline-posts", type=int, default=20, help="quiet POSTs at the start")
    g.add_argument("--check-totals", type=int, default=1, help="1: totals must match")
    g.add_argument("--settle-timeout-s", type=float, default=120, help="wait for totals")
    g.add_argument("--slo-max-fail-ratio", type=float, default=Slo.max_fail_ratio)
    g.add_argument("--slo-ingest-p99-ms", type=float, default=Slo.ingest_p99_ms)
    g.add_argument("--slo-screen-p95-ms", type=float, default=Slo.screen_p95_ms)
    g.add_argument("--slo-screen-p99-ms", type=float, default=Slo.screen_p99_ms)
    g.add_argument("--slo-min-requests", type=int, default=Slo.min_requests)
    g.add_argument("--slo-min-screen-samples", type=int, default=Slo.min_screen_samples)
    g.add_argument("--slo-scale", type=float, default=0.0, help="x in-run baseline (slo.py)")
    g.add_argument("--shape-seconds", type=float, default=120, help="FlashSaleShape length")
    g.add_argument("--shape-peak-users", type=int, default=50, help="ingest users at the spike")
    g.add_argument("--shape-spike-x", type=float, default=0, help="spike / quietest users")
    # Filled in by the master (or the local process) and handed to workers.
    for name in ("--run-id", "--probe-base-ms", "--baseline-ms", "--batch-baseline-ms"):
        g.add_argument(name, default=None, help="(internal)")


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    viewers = getattr(opts, "ws_viewers", 0) if opts else 0
    if viewers > 0:
        ViewerUser.fixed_count = viewers
    elif ViewerUser in environment.user_classes:  # optional: only with --ws-viewers N
        environment.user_classes.remove(ViewerUser)
        environment.user_classes_by_name.pop("ViewerUser", None)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message("warroom_tally", _on_tally)
    elif isinstance(environment.runner, WorkerRunner):
        runner = environment.runner
        runner.register_message("warroom_finish", lambda *a, **k: gevent.spawn(runner.stop))


def _on_tally(environment: Environment, msg: Any, **_: Any) -> None:
    _add_tally(msg.data)


def _add_tally(data: dict[str, int]) -> None:
    SETUP["tally"].merge(data)
    SETUP["unknown"] = SETUP.get("unknown", 0) + data.get("unknown", 0)
    SETUP["tallies"] = SETUP.get("tallies", 0) + 1


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    # The setup talks to the server, so it runs in a greenlet of its own: a shape's next
    # tick can fire test_start again (and kill the greenlet that fired it) before the
    # first call returns; every call waits for the same, single setup.
    if "setup" not in STATE:
        STATE["setup"] = gevent.spawn(_setup, environment)
    try:
        STATE["setup"].get()
    except Exception as exc:  # no campaign, no server: nothing to measure
        log.exception("drill setup failed")
        SETUP["failed"] = repr(exc)
        gevent.spawn(environment.runner.quit)


def _setup(environment: Environment) -> None:
    runner, opts = environment.runner, environment.parsed_options
    if not isinstance(runner, WorkerRunner):
        SETUP.clear()
        SETUP.update(prepare(opts, environment.host))
    if isinstance(runner, MasterRunner):
        SETUP["workers"] = runner.worker_count
        opts.ready_at = time.monotonic()  # the shape's day starts now
        return  # the workers generate the load
    opts.probe_base_ms, opts.baseline_ms = int(opts.probe_base_ms), float(opts.baseline_ms)
    day = generate_sale(int(opts.probe_base_ms)).events
    STATE.update(
        events=[{k: v for k, v in e.items() if k != "ts"} for e in day],
        repeats=repeats(day),
        tally=Tally(),
        uncertain=[],
    )
    index = max(0, runner.worker_index) if isinstance(runner, WorkerRunner) else 0
    STATE["probe"] = Probe(opts, environment.host, index)
    STATE["probe"].start(environment.events.request.fire)
    opts.ready_at = time.monotonic()  # the shape's day starts now (local run)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    runner, opts = environment.runner, environment.parsed_options
    STATE.pop("setup", None)
    if isinstance(runner, MasterRunner):
        _collect(runner, opts)
        return
    if "probe" not in STATE:
        return
    probe: Probe = STATE.pop("probe")
    probe.stop()
    tally: Tally = STATE["tally"]
    tally.merge(probe.tally.as_dict())
    unknown = resend(Api(environment.host), opts, STATE["uncertain"], tally)
    data = {**tally.as_dict(), "unknown": unknown}
    if isinstance(runner, WorkerRunner):
        runner.send_message("warroom_tally", data)
    else:
        _add_tally(data)


def _collect(runner: MasterRunner, opts: Any) -> None:
    """Headless runs end with "quit", which gives workers no time to report what they
    sent: ask every worker to stop and send its tally, and wait for all of them."""
    if "tally" not in SETUP:
        return
    runner.send_message("warroom_finish")
    deadline = time.monotonic() + opts.settle_timeout_s
    while SETUP.get("tallies", 0) < SETUP.get("workers", 0) and time.monotonic() < deadline:
        gevent.sleep(0.1)
    missing = SETUP.get("workers", 0) - SETUP.get("tallies", 0)
    if missing > 0:
        SETUP["unknown"] = SETUP.get("unknown", 0) + missing
        log.error("%d worker(s) never reported what they sent", missing)


@events.quitting.add_listener
def _gate(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master judges the aggregated figures
    opts = environment.parsed_options
    slo = Slo(
        opts.slo_max_fail_ratio,
        opts.slo_ingest_p99_ms,
        opts.slo_screen_p95_ms,
        opts.slo_screen_p99_ms,
        opts.slo_min_requests,
        opts.slo_min_screen_samples if opts.ws_viewers else 0,
        opts.slo_scale,
        float(opts.baseline_ms or 0),
        ((BATCH, float(opts.batch_baseline_ms or 0)),),
    )
    problems = violations(environment.stats, slo, INGEST)
    if "failed" in SETUP:
        problems.insert(0, f"setup failed: {SETUP['failed']}")
    print(f"SLO figures: {summary(environment.stats, (*INGEST, PROBE))}", flush=True)
    if opts.check_totals and "tally" in SETUP and "failed" not in SETUP:
        if SETUP.get("unknown"):
            problems.append(f"{SETUP['unknown']} batches never answered: totals unknowable")
        else:
            problems += settle_and_compare(
                environment.host, opts, SETUP["start"], SETUP["tally"], opts.settle_timeout_s
            )
    if problems:
        print("SLO gate FAILED: " + " | ".join(problems), flush=True)
        environment.process_exit_code = 1
    else:
        print("SLO gate passed", flush=True)
        environment.process_exit_code = 0


class _Ingest(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.path = f"/api/v1/campaigns/{opts.slug}/events"
        self.headers = {
            "Authorization": f"Bearer {opts.ingest_token}",
            "Content-Type": "application/json",
        }
        self._feed = self._events()
        self.inflight: tuple[list[dict[str, Any]], frozenset[int]] | None = None

    def on_stop(self) -> None:
        # Stopped mid-request (the end of the run): the server may have recorded it.
        if self.inflight is not None:
            STATE["uncertain"].append(self.inflight)
            self.inflight = None

    def _events(self) -> Any:
        """The day's events in arrival order, again and again, under fresh ids (and
        whether each is one of the day's deliberate re-sends, which count once), without
        `ts`: stamped on arrival like a live feed (the whole day sent in minutes would
        run hours ahead of the campaign clock, which the `ts` window refuses)."""
        run = self.environment.parsed_options.run_id
        while True:
            prefix = f"{run}-{os.getpid()}-{next(_serial)}-"
            for e, again in zip(STATE["events"], STATE["repeats"], strict=True):
                event = rekey(e, prefix)
                event.pop("ts", None)
                yield event, again

    def send(self, n: int, name: str) -> None:
        pairs = list(itertools.islice(self._feed, n))
        batch = [e for e, _ in pairs]
        again = frozenset(i for i, (_, a) in enumerate(pairs) if a)
        body = orjson.dumps(batch if n > 1 else batch[0])
        self.inflight = (batch, again)
        with self.client.post(
            self.path, data=body, headers=self.headers, name=name, catch_response=True
        ) as res:
            self.inflight = None
            if res.status_code != 202:
                res.failure(f"{res.status_code}: {(res.text or '')[:200]}")
                if res.status_code not in (400, 401, 404, 413, 429):
                    STATE["uncertain"].append((batch, again))  # maybe recorded: re-sent
                return
            got = res.json()
            STATE["tally"].add(batch, again | frozenset(r["index"] for r in got["rejected"]))
            if got["rejected"] or got["accepted"] + got["duplicates"] != len(batch):
                res.failure(f"unexpected answer: {str(got)[:200]}")


class IngestBatchUser(_Ingest):
    """An integration that forwards orders and chat in bulk (a JSON array per request)."""

    weight = 1
    wait_time = between(0.2, 0.5)

    @task
    def batch(self) -> None:
        self.send(self.environment.parsed_options.batch_size, BATCH)


class IngestSingleUser(_Ingest):
    """A webhook per event (a chat robot, a shop plugin): one object per request."""

    weight = 3
    wait_time = between(0.01, 0.05)

    @task
    def single(self) -> None:
        self.send(1, SINGLE)


class ViewerUser(User):
    """A big screen on the dashboard socket (sync client: Locust runs on gevent).

    Each frame is counted as `recv <type>` (a `seq` that does not rise is a failure);
    its time is 0: the wait between frames is not a latency. The latency is
    `ingest-to-screen`: for each probe order sent after this viewer connected, the
    first frame that shows it minus the moment it was posted."""

    wait_time = constant(0)
    minutes: dict[str, int] = {}  # minute labels parsed once per process

    def on_start(self) -> None:
        import websocket  # websocket-client

        opts = self.environment.parsed_options
        url = self.host.replace("http", "ws", 1) + f"/ws/campaigns/{opts.slug}"
        began = time.perf_counter()
        try:
            self.ws = websocket.create_connection(
                f"{url}?token={opts.viewer_token}",
                timeout=30,
                skip_utf8_validation=True,  # pure-Python UTF-8 checks cost more than JSON
            )
            self._fire("connect", (time.perf_counter() - began) * 1000, 0)
        except Exception as exc:
            self._fire("connect", (time.perf_counter() - began) * 1000, 0, exc)
            raise
        self.joined = time.perf_counter()
        self.seq = -1
        self.seen = 0  # probes of this process already accounted for

    @task
    def receive(self) -> None:
        # Cheap on purpose: hundreds of viewers share one Locust process, so a frame is
        # parsed whole only when it may show this process's probe row.
        frame: dict[str, Any] | None = None
        try:
            text = self.ws.recv()
            arrived = time.perf_counter()
            head = HEAD.match(text)
            if head is None:
                frame = orjson.loads(text)
                kind, seq = frame.get("type"), frame.get("seq", self.seq + 1)
            else:
                kind, seq = head.group(1), int(head.group(2))
            if seq <= self.seq:
                raise ValueError(f"seq went from {self.seq} to {seq}")
            self.seq = seq
            self._fire(f"recv {kind}", 0, len(text))
        except Exception as exc:
            self._fire("recv", 0, 0, exc)
            return
        probe: Probe | None = STATE.get("probe")
        if probe is None:
            return
        label = probe.label
        if kind != "snapshot" and (label not in text if label else '"per_minute"' not in text):
            return
        shown = probe.count_in(frame or orjson.loads(text), self.minutes)
        if shown is None:
            return
        sent = probe.sent
        for k in range(self.seen, min(shown, len(sent))):
            if sent[k] >= self.joined:
                self._fire("ingest-to-screen", (arrived - sent[k]) * 1000, 0)
        self.seen = max(self.seen, shown)

    def on_stop(self) -> None:
        if getattr(self, "ws", None):
            self.ws.close()

    def _fire(self, name: str, ms: float, size: int, exc: Exception | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=ms,
            response_length=size,
            exception=exc,
            context={},
        )
