"""Dependency faults against a deployment in pieces (tests/chaos/stack.py): a stopped or
full redis-server, and a bad network (tests/chaos/proxy.py) between the web process and
Redis or PostgreSQL, while orders keep coming in.

What must hold whatever the fault (docs/operations.md, "one ingest answer, in total"):
every ingest answer comes within WARROOM_DEPENDENCY_TIMEOUT_S (1 s here) plus a margin
for a loaded machine, as `202` (the event is in the ledger) or `503` with `Retry-After`
(never a hang, a 500 or a dropped connection); /healthz names the failing part while
it fails and recovers by itself once the fault is gone; and once it is gone, every
event in the ledger is counted exactly once on the screens (nothing lost, nothing
doubled), the 503-refused ones included once they are re-sent.

Every fault is undone in a `finally` (SIGCONT, maxmemory 0, the proxy closed) and
every wait has a deadline, so a failing test fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.chaos.proxy import DELAY, HANG, PASS, RESET, FaultProxy
from tests.chaos.stack import Stack, wait_for
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store

TIMEOUT_S = 1.0  # WARROOM_DEPENDENCY_TIMEOUT_S of the stack
# The documented bound is the timeout plus a quarter second; the rest is for a loaded
# machine half as fast. Still below the length of every fault (FAULT_S), so an answer
# that waited for the fault to end would fail.
MARGIN_S = 3.0
BOUND_S = TIMEOUT_S + MARGIN_S
FAULT_S = 5.0  # how long each fault lasts while orders come in
DELAY_MS = 300  # the proxy's delay per chunk
SENDERS = 3  # clients posting orders at once


@dataclass
class Answer:
    order_id: str
    amount: int
    phase: str
    status: int  # 0: no HTTP answer at all (connection error or client timeout)
    took: float
    body: dict[str, Any]
    retry_after: str | None
    error: str = ""


class Ingest:
    """Clients posting one new order each at a time, in threads, until stopped; every
    answer is kept with the phase (fault) it was sent in."""

    def __init__(self, stack: Stack, slug: str, token: str) -> None:
        self.stack = stack
        self.url = f"{stack.base}/api/v1/campaigns/{slug}/events"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.phase = "before"
        self.answers: list[Answer] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SENDERS)]

    def __enter__(self) -> Ingest:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(BOUND_S + 30)
        assert not any(t.is_alive() for t in self._threads), "a sender never came back"

    def _run(self) -> None:
        # The client's own timeout is far above the bound: a hung answer is measured
        # (and fails the bound) rather than cut short, yet cannot block the test.
        with httpx.Client(timeout=BOUND_S + 20) as client:
            while not self._stop.is_set():
                with self._lock:
                    n = next(self._ids)
                    phase = self.phase
                self.answers.append(self.post(client, f"c{n}", 100 + n, phase))
                time.sleep(0.05)

    def post(self, client: httpx.Client, order_id: str, amount: int, phase: str) -> Answer:
        event = {"type": "order", "order_id": order_id, "amount_fen": amount,
                 "seller_id": "s1", "group_id": "g1", "buyer_id": "b", "product_id": "p"}  # fmt: skip
        began = time.monotonic()
        try:
            res = client.post(self.url, json=[event], headers=self.headers)
        except httpx.HTTPError as exc:
            return Answer(order_id, amount, phase, 0, time.monotonic() - began, {}, None, repr(exc))
        took = time.monotonic() - began
        try:
            body = res.json()
        except ValueError:
            body = {"raw": res.text[:300]}
        error = str(body.get("error", ""))
        retry_after = res.headers.get("retry-after")
        return Answer(order_id, amount, phase, res.status_code, took, body, retry_after, error)

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase


def check_answers(answers: list[Answer]) -> None:
    """Every answer bounded, and a 202 that recorded the order or a clear 503."""
    assert answers, "no order was sent"
    for a in answers:
        assert a.status in (202, 503), a
        assert a.took < BOUND_S, a
        if a.status == 202:
            assert a.body == {"accepted": 1, "duplicates": 0, "rejected": []}, a
        else:
            assert a.retry_after is not None and int(a.retry_after) >= 1, a
            assert isinstance(a.body.get("error"), str) and a.body["error"], a


def figures(answers: list[Answer]) -> dict[str, dict[str, Any]]:
    """Per phase: answers by status and the slowest answer (for the report)."""
    out: dict[str, dict[str, Any]] = {}
    for a in answers:
        f = out.setdefault(a.phase, {"max_s": 0.0})
        f[str(a.status)] = f.get(str(a.status), 0) + 1
        f["max_s"] = round(max(f["max_s"], a.took), 2)
    return out


class Ledger:
    """The ledger as the database has it (read directly, not through the web)."""

    def __init__(self, database_url: str, slug: str) -> None:
        self.store = Store(make_engine(database_url))
        record = self.store.get_campaign(slug)
        assert record is not None
        self.campaign_id = record.id

    def orders(self) -> dict[str, int]:
        """order_id -> amount of every order recorded; an order recorded twice fails."""
        seen: dict[str, int] = {}
        for batch in self.store.iter_ledger(self.campaign_id):
            for e in batch:
                assert e["order_id"] not in seen, f"recorded twice: {e}"
                seen[e["order_id"]] = e["amount_fen"]
        return seen

    def close(self) -> None:
        self.store.engine.dispose()


def totals(stack: Stack, viewer: str) -> tuple[int, int]:
    t = stack.snapshot("sale", viewer)["totals"]
    return t["orders"], t["gmv_fen"]


def health(stack: Stack) -> tuple[int, dict[str, str], float]:
    began = time.monotonic()
    res = httpx.get(stack.base + "/healthz", timeout=BOUND_S + 20)
    return res.status_code, res.json()["parts"], time.monotonic() - began


def wait_healthy(stack: Stack) -> float:
    """Seconds until /healthz says 200 again, no event being sent meanwhile."""
    began = time.monotonic()
    wait_for(
        "/healthz to recover by itself",
        lambda: health(stack)[0] == 200,
        deadline_s=60,
        explain=lambda: f"{health(stack)}\n{stack.outputs()}",
    )
    return time.monotonic() - began


def assert_counted_once(stack: Stack, ledger: Ledger, viewer: str, expect: dict[str, int]) -> float:
    """The ledger holds exactly `expect` (order_id -> amount) and the screens count each
    once: waits until they do, then once more after the relay and the reclaim have had
    time to send anything twice. Seconds until they first did."""
    began = time.monotonic()
    want = (len(expect), sum(expect.values()))

    def settled() -> bool:
        return ledger.orders() == expect and totals(stack, viewer) == want

    wait_for(
        f"the screens to count the {want[0]} recorded orders exactly once",
        settled,
        deadline_s=90,
        explain=lambda: (
            f"ledger {len(ledger.orders())} snapshot {totals(stack, viewer)} "
            f"want {want}\n{stack.outputs()}"
        ),
    )
    took = time.monotonic() - began
    time.sleep(3)  # the relay runs every 2 s, the reclaim after 2 s idle
    assert ledger.orders() == expect
    assert totals(stack, viewer) == want, "counted twice after the recovery"
    return took


def settle_and_resend(
    stack: Stack, ledger: Ledger, viewer: str, ingest: Ingest, report: dict[str, Any]
) -> None:
    """After the fault: every 202 is in the ledger, the ledger holds only orders that
    were sent and the screens count it exactly once; then the refused orders are sent
    again until taken, and everything sent is counted exactly once."""
    sent = {"warm": 1} | {a.order_id: a.amount for a in ingest.answers}
    accepted = {a.order_id for a in ingest.answers if a.status == 202}
    # A 503 that timed out may still land (OutcomeUnknown): wait until the ledger
    # and the screens agree, then compare.
    recorded: dict[str, int] = {}

    def agree() -> bool:
        nonlocal recorded
        recorded = ledger.orders()
        return totals(stack, viewer) == (len(recorded), sum(recorded.values()))

    began = time.monotonic()
    wait_for(
        "the screens to count what the ledger holds",
        agree,
        deadline_s=90,
        explain=lambda: (
            f"ledger {len(ledger.orders())} snapshot {totals(stack, viewer)}\n{stack.outputs()}"
        ),
    )
    report["counted_after_s"] = round(time.monotonic() - began, 1)
    missing = accepted - recorded.keys()
    assert not missing, f"answered 202 but not in the ledger: {sorted(missing)[:10]}"
    assert recorded.keys() <= sent.keys(), "the ledger holds an order nobody sent"
    refused = [a for a in ingest.answers if a.status != 202]
    # Recorded though refused: only where the answer said the outcome was unknown.
    report["refused_but_recorded"] = sum(a.order_id in recorded for a in refused)
    untrue = [a for a in refused if a.order_id in recorded and "nothing was recorded" in a.error]
    assert not untrue, f"503 'nothing was recorded', yet in the ledger: {untrue[:3]}"
    reasons: dict[str, int] = {}
    for a in refused:
        reasons[a.error[:60]] = reasons.get(a.error[:60], 0) + 1
    report["refusals"] = reasons
    # The refused ones, again (a retry is safe: a recorded one is a duplicate).
    retries: list[Answer] = []

    def retried(a: Answer) -> bool:
        retries.append(ingest.post(client, a.order_id, a.amount, "retry"))
        return retries[-1].status == 202

    with httpx.Client(timeout=BOUND_S + 20) as client:
        for a in refused:
            wait_for(
                f"order {a.order_id} to be taken on a retry",
                functools.partial(retried, a),
                deadline_s=30,
                explain=lambda: f"{retries[-3:]}\n{stack.outputs()}",
            )
    report["final_counted_s"] = round(assert_counted_once(stack, ledger, viewer, sent), 1)
    report["orders"] = len(sent)


@contextlib.contextmanager
def chaos_stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path, WARROOM_DEPENDENCY_TIMEOUT_S=str(TIMEOUT_S))
    try:
        yield s
    finally:
        s.close()


def start(stack: Stack, **web: Any) -> tuple[dict[str, Any], Ledger]:
    """The web (with `web` overrides) and one worker; a campaign whose first order
    is counted, so the worker is known to run."""
    stack.start_web(**web)
    stack.start_worker()
    c = stack.create_campaign()
    ledger = Ledger(stack.database_url, "sale")
    warm = Ingest(stack, "sale", c["ingest_token"])
    with httpx.Client(timeout=30) as client:
        assert warm.post(client, "warm", 1, "warm").status == 202
    wait_for(
        "the worker to count the first order",
        lambda: totals(stack, c["viewer_token"]) == (1, 1),
        deadline_s=60,
        explain=stack.outputs,
    )
    return c, ledger


def run_phases(
    ingest: Ingest, phases: list[tuple[str, float]], proxy: FaultProxy, stack: Stack
) -> dict[str, Any]:
    """Switch the proxy through `phases` (mode, seconds) while orders come in; /healthz
    must answer within the bound throughout, and name the part during a hang."""
    seen: dict[str, Any] = {}
    for mode, seconds in phases:
        ingest.set_phase(mode if mode != DELAY else f"delay {DELAY_MS} ms")
        proxy.set_mode(mode, DELAY_MS)
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            status, parts, took = health(stack)
            assert took < BOUND_S, (mode, took, parts)
            seen.setdefault(mode, set()).add((status, tuple(sorted(parts.items()))))
            time.sleep(0.5)
    return seen


# -- Redis ----------------------------------------------------------------------------


def test_redis_stopped_answers_bounded_and_loses_nothing(tmp_path: Path) -> None:
    """SIGSTOP the redis-server while orders come in: every answer within the bound,
    /healthz says `redis: down`; SIGCONT: /healthz recovers with no new event, and the
    screens count every accepted order once."""
    report: dict[str, Any] = {}
    with chaos_stack(tmp_path) as stack:
        c, ledger = start(stack)
        pid = stack.redis_pid()
        with Ingest(stack, "sale", c["ingest_token"]) as ingest:
            time.sleep(1)
            ingest.set_phase("sigstop")
            os.kill(pid, signal.SIGSTOP)
            try:
                ends = time.monotonic() + FAULT_S
                while time.monotonic() < ends:
                    status, parts, took = health(stack)
                    assert took < BOUND_S, took
                    time.sleep(0.5)
                assert status == 503 and parts["redis"] == "down", parts
                ingest.stop()  # no new event from here: /healthz recovers by itself
            finally:
                os.kill(pid, signal.SIGCONT)
        report["healthy_after_s"] = round(wait_healthy(stack), 1)
        check_answers(ingest.answers)
        report["answers"] = figures(ingest.answers)
        assert any(a.phase == "sigstop" for a in ingest.answers)
        settle_and_resend(stack, ledger, c["viewer_token"], ingest, report)
        ledger.close()
    print("\nFIGURES redis-sigstop", report)


def test_redis_out_of_memory_degrades_then_counts_everything_once(tmp_path: Path) -> None:
    """maxmemory far below what Redis holds (noeviction) while orders come in: /healthz
    says `redis: oom`, orders are recorded (202) or clearly refused (503); with the
    limit lifted everything accepted is counted once."""
    report: dict[str, Any] = {}
    with chaos_stack(tmp_path) as stack:
        c, ledger = start(stack)
        r = stack.redis()
        try:
            with Ingest(stack, "sale", c["ingest_token"]) as ingest:
                time.sleep(1)
                ingest.set_phase("oom")
                used = int(r.info("memory")["used_memory"])
                r.config_set("maxmemory", max(1, used // 2))
                try:
                    oom_seen = wait_for(
                        "/healthz to say redis: oom",
                        lambda: health(stack)[1]["redis"] == "oom",
                        deadline_s=30,
                    )
                    time.sleep(FAULT_S)
                    status, parts, took = health(stack)
                    assert status == 503 and parts["redis"] == "oom", parts
                    assert took < BOUND_S
                    ingest.stop()
                finally:
                    r.config_set("maxmemory", 0)
            assert oom_seen
            report["healthy_after_s"] = round(wait_healthy(stack), 1)
        finally:
            r.close()
        check_answers(ingest.answers)
        report["answers"] = figures(ingest.answers)
        assert any(a.phase == "oom" and a.status == 202 for a in ingest.answers)
        settle_and_resend(stack, ledger, c["viewer_token"], ingest, report)
        ledger.close()
    print("\nFIGURES redis-oom", report)


PHASES = [
    (DELAY, FAULT_S - 1),
    (PASS, 1.0),
    (HANG, FAULT_S),
    (PASS, 1.0),
    (RESET, FAULT_S - 2),
    (PASS, 1.0),
]


def test_bad_network_to_redis(tmp_path: Path) -> None:
    """The web reaches Redis through the fault proxy (the worker directly): a slow,
    a black-holed and a resetting network in turn. Ingest needs only the ledger, so
    every answer is a bounded 202 (or a clear 503), and after the heal the relay brings
    every order to the screens exactly once."""
    report: dict[str, Any] = {}
    with chaos_stack(tmp_path) as stack:
        proxy = FaultProxy(("unix", str(stack.redis_server.socket)))
        try:
            c, ledger = start(stack, redis_url=f"redis://127.0.0.1:{proxy.port}/0")
            with Ingest(stack, "sale", c["ingest_token"]) as ingest:
                time.sleep(1)
                try:
                    seen = run_phases(ingest, PHASES, proxy, stack)
                finally:
                    proxy.set_mode(PASS)
                ingest.stop()
            assert any(s == 503 and ("redis", "down") in p for s, p in seen[HANG]), seen[HANG]
            report["healthy_after_s"] = round(wait_healthy(stack), 1)
            check_answers(ingest.answers)
            report["answers"] = figures(ingest.answers)
            settle_and_resend(stack, ledger, c["viewer_token"], ingest, report)
            ledger.close()
        finally:
            proxy.close()
    print("\nFIGURES redis-proxy", report)


# -- PostgreSQL -----------------------------------------------------------------------


def test_bad_network_to_postgresql(tmp_path: Path) -> None:
    """The web reaches PostgreSQL through the fault proxy (the worker directly): every
    answer bounded, a 202 only for an order that is in the ledger afterwards, a 503
    with Retry-After otherwise; after the heal everything recorded is counted once."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgresql"):
        pytest.skip("needs DATABASE_URL=postgresql://...: SQLite is a file, not a network")
    url = make_url(database_url)
    report: dict[str, Any] = {}
    with chaos_stack(tmp_path) as stack:
        proxy = FaultProxy(("tcp", url.host or "127.0.0.1", url.port or 5432))
        try:
            through = url.set(host="127.0.0.1", port=proxy.port)
            c, ledger = start(stack, DATABASE_URL=through.render_as_string(hide_password=False))
            with Ingest(stack, "sale", c["ingest_token"]) as ingest:
                time.sleep(1)
                try:
                    seen = run_phases(ingest, PHASES, proxy, stack)
                finally:
                    proxy.set_mode(PASS)
                ingest.stop()
            assert any(s == 503 and ("database", "down") in p for s, p in seen[HANG]), seen[HANG]
            report["healthy_after_s"] = round(wait_healthy(stack), 1)
            check_answers(ingest.answers)
            report["answers"] = figures(ingest.answers)
            assert any(a.phase == HANG and a.status == 503 for a in ingest.answers)
            settle_and_resend(stack, ledger, c["viewer_token"], ingest, report)
            ledger.close()
        finally:
            proxy.close()
    print("\nFIGURES postgresql-proxy", report)
