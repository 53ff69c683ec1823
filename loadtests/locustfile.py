"""Load the whole ingest path (and optionally the dashboard socket) the way a flash sale
does: events from the simulator's generator, posted in batches and one by one.

    locust -f loadtests/locustfile.py,loadtests/shapes.py --headless \
        --host http://127.0.0.1:8000 --admin-token $WARROOM_ADMIN_TOKEN [--ws-viewers 20]

Without --slug a fresh campaign is created with --admin-token (in each worker process of
a distributed run). The SLO gate (slo.py) sets the exit code at the end.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
from typing import Any

import httpx
import orjson
from locust import FastHttpUser, User, between, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from slo import Slo, summary, violations  # locust puts this directory on sys.path

from warroom.demo import demo_settings, doors_open_today
from warroom.simulator import generate_sale, rekey

log = logging.getLogger("warroom.loadtest")
BATCH, SINGLE = "POST events [batch]", "POST events [single]"
# Per process: the campaign under load and one generated sale that users replay under
# fresh identities (generating costs ~0.2 s of CPU, which must not stall gevent per user).
STATE: dict[str, Any] = {}
_serial = itertools.count(1)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    g = parser.add_argument_group("warroom")
    g.add_argument("--slug", default="", help="campaign to load; empty: create one")
    g.add_argument("--ingest-token", default="", help="ingest token of --slug")
    g.add_argument("--viewer-token", default="", help="viewer token of --slug (WebSocket)")
    g.add_argument("--admin-token", default=os.environ.get("WARROOM_ADMIN_TOKEN", ""))
    g.add_argument("--batch-size", type=int, default=200, help="events per batched POST")
    g.add_argument("--ws-viewers", type=int, default=0, help="dashboard sockets to hold open")
    g.add_argument("--slo-max-fail-ratio", type=float, default=Slo.max_fail_ratio)
    g.add_argument("--slo-ingest-p99-ms", type=float, default=Slo.ingest_p99_ms)
    g.add_argument("--slo-min-requests", type=int, default=Slo.min_requests)
    g.add_argument("--shape-seconds", type=float, default=120, help="FlashSaleShape length")
    g.add_argument("--shape-peak-users", type=int, default=50, help="FlashSaleShape peak")


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    viewers = getattr(opts, "ws_viewers", 0) if opts else 0
    if viewers > 0:
        ViewerUser.fixed_count = viewers
    elif ViewerUser in environment.user_classes:  # optional: only with --ws-viewers N
        environment.user_classes.remove(ViewerUser)
        environment.user_classes_by_name.pop("ViewerUser", None)


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return  # the workers generate the load
    opts = environment.parsed_options
    start_ms = doors_open_today()
    if opts.slug:
        STATE.update(slug=opts.slug, ingest=opts.ingest_token, viewer=opts.viewer_token)
    else:
        slug = f"load-{secrets.token_hex(4)}"
        body = demo_settings(slug, 60, start_ms)
        headers = {"Authorization": f"Bearer {opts.admin_token}"}
        res = httpx.post(f"{environment.host}/api/v1/campaigns", json=body, headers=headers)
        if res.status_code != 201:
            raise RuntimeError(f"cannot create a campaign ({res.status_code}): {res.text}")
        data = res.json()
        STATE.update(slug=slug, ingest=data["ingest_token"], viewer=data["viewer_token"])
        log.info("load campaign %s (viewer token %s)", slug, data["viewer_token"])
    STATE["events"] = generate_sale(start_ms).events
    STATE["run"] = secrets.token_hex(3)


@events.quitting.add_listener
def _gate(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master judges the aggregated figures
    opts = environment.parsed_options
    slo = Slo(opts.slo_max_fail_ratio, opts.slo_ingest_p99_ms, opts.slo_min_requests)
    problems = violations(environment.stats, slo, (BATCH, SINGLE))
    print(f"SLO figures: {summary(environment.stats, (BATCH, SINGLE))}", flush=True)
    if problems:
        print("SLO gate FAILED: " + " | ".join(problems), flush=True)
        environment.process_exit_code = 1
    else:
        print("SLO gate passed", flush=True)
        environment.process_exit_code = 0


class _Ingest(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        self.path = f"/api/v1/campaigns/{STATE['slug']}/events"
        self.headers = {
            "Authorization": f"Bearer {STATE['ingest']}",
            "Content-Type": "application/json",
        }
        self._feed = self._events()

    def _events(self) -> Any:
        """The day's events in arrival order, again and again, under fresh ids and
        without `ts`: stamped on arrival like a live feed (the whole day sent in minutes
        would run hours ahead of the campaign clock, which the `ts` window refuses)."""
        while True:
            prefix = f"{STATE['run']}-{next(_serial)}-"
            for e in STATE["events"]:
                event = rekey(e, prefix)
                event.pop("ts", None)
                yield event

    def send(self, n: int, name: str) -> None:
        batch = list(itertools.islice(self._feed, n))
        body = orjson.dumps(batch if n > 1 else batch[0])
        with self.client.post(
            self.path, data=body, headers=self.headers, name=name, catch_response=True
        ) as res:
            if res.status_code != 202:
                res.failure(f"{res.status_code}: {res.text[:200]}")
                return
            got = res.json()
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
    """A big screen or host phone on the dashboard socket (sync client: Locust runs on
    gevent). Each frame is recorded as a request named after its type, with the time
    waited for it; a `seq` that does not rise is a failure."""

    wait_time = constant(0)

    def on_start(self) -> None:
        import websocket  # websocket-client

        url = self.host.replace("http", "ws", 1) + f"/ws/campaigns/{STATE['slug']}"
        began = time.perf_counter()
        try:
            self.ws = websocket.create_connection(f"{url}?token={STATE['viewer']}", timeout=30)
            self._fire("connect", began, 0)
        except Exception as exc:
            self._fire("connect", began, 0, exc)
            raise
        self.seq = -1

    @task
    def receive(self) -> None:
        began = time.perf_counter()
        try:
            text = self.ws.recv()
            frame = orjson.loads(text)
            seq = frame.get("seq", self.seq + 1)
            if seq <= self.seq:
                raise ValueError(f"seq went from {self.seq} to {seq}")
            self.seq = seq
            self._fire(f"recv {frame.get('type')}", began, len(text))
        except Exception as exc:
            self._fire("recv", began, 0, exc)

    def on_stop(self) -> None:
        if getattr(self, "ws", None):
            self.ws.close()

    def _fire(self, name: str, began: float, size: int, exc: Exception | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - began) * 1000,
            response_length=size,
            exception=exc,
            context={},
        )
