"""Worker crashes (issue 17): separate `warroom worker` processes SIGKILLed at the worst
moments, against a real redis-server, the real database and a real HTTP receiver.

1. Every worker killed right after each report's claim commits (the outbox): each
   report is delivered once per target (or, killed mid-POST, at most once with the
   outcome `unknown` in the delivery log: docs/reports.md "At most once, on purpose"),
   each is on the screens' feed once, and the snapshot counts them all.
2. A SIGKILL storm: three workers racing on reports and stimulus fires, a random one
   killed at random moments and restarted, over 20 rounds: each report and each fire
   once in SQL, on the receiver and on the screens.
3. The stream trimmed while no worker runs (and again and again while workers drain
   it, one of them killed): nothing lost, nothing counted twice.

Every wait is for a condition with a deadline (`wait_for`); nothing sleeps and hopes.
The figures each test measured are printed (`pytest -s`) for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import func, select

from tests.chaos.stack import ADMIN_H, Proc, Stack, wait_for
from tests.integration.receivers import Receiver
from warroom.adapters.outbound.webhook import UNKNOWN, WebhookStore
from warroom.adapters.redis import keys
from warroom.adapters.redis.streams import EventStream, id_tuple
from warroom.adapters.sql.engine import make_engine
from warroom.adapters.sql.store import Store
from warroom.adapters.sql.tables import DeliveryRow, ReportRow, StimulusRow
from warroom.core.reports.render import wecom_markdown
from warroom.core.reports.schedule import hour_marks

MINUTE = 60_000
HOUR = 3_600_000


def now_ms() -> int:
    return int(time.time() * 1000)


# --- reading the deployment -------------------------------------------------------------


class Db:
    """The deployment's database, read the way an operator would: plain SQL."""

    def __init__(self, url: str) -> None:
        self.store = Store(make_engine(url, pool_size=2))
        self.engine = self.store.engine

    def close(self) -> None:
        self.engine.dispose()

    def campaign_id(self, slug: str) -> int:
        record = self.store.get_campaign(slug)
        assert record is not None, slug
        return int(record.id)

    def count_reports(self, campaign_id: int) -> int:
        r = ReportRow.__table__
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(r).where(r.c.campaign_id == campaign_id)
                ).scalar_one()
            )

    def reports(self, campaign_id: int) -> list[Any]:
        r = ReportRow.__table__
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(r.c.id, r.c.key, r.c.kind, r.c.text)
                    .where(r.c.campaign_id == campaign_id)
                    .order_by(r.c.id)
                )
            )

    def fires(self, campaign_id: int) -> list[Any]:
        s = StimulusRow.__table__
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(s.c.id, s.c.key, s.c.rule)
                    .where(s.c.campaign_id == campaign_id)
                    .order_by(s.c.id)
                )
            )

    def deliveries(self, campaign_id: int) -> list[Any]:
        d, r = DeliveryRow.__table__, ReportRow.__table__
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(
                        d.c.id,
                        d.c.webhook_id,
                        d.c.report_id,
                        d.c.status,
                        d.c.next_at_ms,
                        d.c.last_error,
                    )
                    .join(r, r.c.id == d.c.report_id)
                    .where(r.c.campaign_id == campaign_id)
                    .order_by(d.c.id)
                )
            )

    def ledger(self, campaign_id: int) -> dict[str, int]:
        """The SQL ledger's own totals (what was durably accepted)."""
        out = {"events": 0, "orders": 0, "gmv_fen": 0, "messages": 0}
        for batch in self.store.iter_ledger(campaign_id):
            for e in batch:
                out["events"] += 1
                if e["type"] == "order":
                    out["orders"] += 1
                    out["gmv_fen"] += e["amount_fen"]
                elif e["type"] == "message":
                    out["messages"] += 1
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    # A worker killed mid-POST leaves the receiver a broken pipe: expected, not news.
    r.server.handle_error = lambda *args: None  # type: ignore[method-assign]
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def db(stack: Stack) -> Iterator[Db]:
    d = Db(stack.database_url)
    try:
        yield d
    finally:
        d.close()


def order(oid: str, amount_fen: int, ts: int | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {
        "type": "order",
        "order_id": oid,
        "amount_fen": amount_fen,
        "seller_id": f"s{hash(oid) % 3}",
        "group_id": "g1",
        "buyer_id": f"b-{oid}",
        "product_id": "p1",
    }
    if ts is not None:
        e["ts"] = ts
    return e


def message(mid: str, ts: int | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"type": "message", "message_id": mid, "group_id": "g1", "member_id": "u1"}
    if ts is not None:
        e["ts"] = ts
    return e


def post(stack: Stack, slug: str, token: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    res = stack.post_events(slug, token, events)
    assert res.status_code == 202, res.text
    body: dict[str, Any] = res.json()
    assert not body["rejected"], body
    return body


def add_hook(stack: Stack, slug: str, url: str, fmt: str) -> int:
    res = httpx.post(
        f"{stack.base}/api/v1/campaigns/{slug}/webhooks",
        json={"url": url, "format": fmt, "secret": "s3cret"},
        headers=ADMIN_H,
        timeout=30,
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


def feed_ids(stack: Stack, slug: str, kind: str) -> list[int]:
    """The ids on a campaign's live feed in Redis, as the screens get them."""
    r = stack.redis()
    try:
        return [int(json.loads(i)["id"]) for i in r.lrange(keys.feed(slug, kind), 0, -1)]
    finally:
        r.close()


def restart_all(stack: Stack, n: int) -> float:
    """SIGKILL every worker, then start `n` fresh ones; returns the kill's wall time (ms)."""
    for w in stack.workers():
        w.kill()
    killed_at = time.time() * 1000
    for _ in range(n):
        stack.start_worker()
    return killed_at


# --- the outbox, as the receiver saw it ---------------------------------------------------


@dataclass
class Hook:
    id: int
    fmt: str  # "json" or "wecom"
    url: str


def receipts(receiver: Receiver, hooks: list[Hook], texts: dict[int, str]) -> Counter[Any]:
    """How many POSTs each (hook, report) got. A json body names its report; a WeCom
    markdown body is matched on its content. Anything unmatched counts under None; a
    body cut short (its sender killed mid-write) under "partial"."""
    by_path = {h.url.removeprefix(receiver.url.removesuffix("/hook")): h for h in hooks}
    by_markdown = {wecom_markdown(t)["markdown"]["content"]: i for i, t in texts.items()}
    seen: Counter[Any] = Counter()
    with receiver.lock:
        requests = list(receiver.requests)
    for req in requests:
        hook = by_path.get(req["path"])
        if hook is None:
            continue  # another test's hook on a shared receiver: none here
        if len(req["body"]) < int(req["headers"].get("Content-Length", 0)):
            seen["partial"] += 1  # its sender was killed while writing it: not arrived
            continue
        body = json.loads(req["body"])
        if hook.fmt == "json":
            seen[(hook.id, int(body["report"]["id"]))] += 1
        else:
            seen[(hook.id, by_markdown.get(body["markdown"]["content"]))] += 1
    return seen


def outbox_settled(db: Db, campaign_id: int, last_kill_ms: float) -> bool:
    """Every delivery ended, or left `sending` by a worker killed in the last kill (every
    worker alive now started after it, so a `sending` row older is orphaned)."""
    for row in db.deliveries(campaign_id):
        if row.status == "pending":
            return False
        if row.status == "sending" and row.next_at_ms >= last_kill_ms:
            return False
    return True


@dataclass
class OutboxTally:
    deliveries: int = 0
    delivered: int = 0
    interrupted: int = 0  # killed mid-POST: at most once, by design
    interrupted_arrived: int = 0
    partial: int = 0  # POSTs cut off mid-body by a kill (the receiver got no message)


def check_outbox(
    stack: Stack,
    db: Db,
    receiver: Receiver,
    slug: str,
    hooks: list[Hook],
    tally: OutboxTally,
) -> dict[int, dict[int, str]]:
    """After `sweep_orphans`: one delivery row per (target, report); each delivered one
    arrived exactly once; one interrupted mid-POST arrived at most once and the delivery
    log says its outcome is `unknown`; nothing else arrived. Returns each report's
    outcome per hook."""
    cid = db.campaign_id(slug)
    reports = {r.id: r.text for r in db.reports(cid)}
    res = httpx.get(f"{stack.base}/api/v1/campaigns/{slug}/deliveries", headers=ADMIN_H, timeout=30)
    assert res.status_code == 200, res.text
    log = res.json()
    pairs = Counter((d["webhook_id"], d["report_id"]) for d in log)
    assert set(pairs) == {(h.id, i) for h in hooks for i in reports}, "a target or report missed"
    assert max(pairs.values()) == 1
    seen = receipts(receiver, hooks, reports)
    tally.partial += seen.pop("partial", 0)
    assert all(k[1] is not None for k in seen), seen
    outcomes: dict[int, dict[int, str]] = {}
    for d in log:
        got = seen[(d["webhook_id"], d["report_id"])]
        tally.deliveries += 1
        if d["outcome"] == "sent":
            assert got == 1, f"report {d['report_id']} reached hook {d['webhook_id']} {got} times"
            tally.delivered += 1
        elif d["outcome"] == "unknown":
            assert got <= 1, f"report {d['report_id']} reached hook {d['webhook_id']} {got} times"
            assert d["last_error"].startswith(UNKNOWN)
            tally.interrupted += 1
            tally.interrupted_arrived += got
        else:
            raise AssertionError(f"delivery {d}")
        outcomes.setdefault(d["report_id"], {})[d["webhook_id"]] = d["outcome"]
    return outcomes


def sweep_orphans(db: Db, last_kill_ms: float) -> int:
    """End what killed workers left `sending`, as the live sweeper does a minute later
    (`Deliverer.dispatch`), with the kill's time as the bound: every worker alive now
    started after it, so a row `sending` since before it is an orphan."""
    return WebhookStore(db.engine).sweep_interrupted(int(last_kill_ms), now_ms())


def check_screens(stack: Stack, db: Db, slug: str, viewer: str) -> None:
    """Every report and fire in SQL is on the screens' feeds once, in order, the
    snapshot (what a screen loads) counts them all, and they are numbered 1..N."""
    cid = db.campaign_id(slug)
    report_ids = [r.id for r in db.reports(cid)]
    fire_ids = [f.id for f in db.fires(cid)]

    def shown() -> bool:
        if feed_ids(stack, slug, "reports") != report_ids:
            return False
        if feed_ids(stack, slug, "stimuli") != fire_ids:
            return False
        snap = stack.snapshot(slug, viewer)
        newest = [r["id"] for r in snap["reports"]]
        return (
            snap["reports_total"] == len(report_ids)
            and newest == report_ids[-len(newest) :]
            and len(newest) == min(10, len(report_ids))
            and [f["id"] for f in snap["stimuli"]] == fire_ids
        )

    wait_for(
        f"every report and fire of {slug} on the screens once",
        shown,
        deadline_s=60,
        explain=lambda: (
            f"SQL reports {report_ids} fires {fire_ids}; feed "
            f"{feed_ids(stack, slug, 'reports')} {feed_ids(stack, slug, 'stimuli')}\n"
            + stack.outputs()
        ),
    )
    # Each report's number within the campaign, counted in SQL when it was claimed:
    # 1..N, none twice (the screens show the newest as the feed's count).
    numbers = [r["n"] for r in stack.reports(slug)]
    assert numbers == list(range(1, len(report_ids) + 1)), numbers


# --- 1. every worker killed right after each report commits ------------------------------


@pytest.mark.timeout(480)  # ~45 s unloaded; nine restarts on a loaded machine take longer
def test_every_worker_killed_right_after_each_report_commit(
    stack: Stack, db: Db, receiver: Receiver
) -> None:
    began = time.monotonic()
    stack.start_web()
    # A rehearsal clock at 20 (a campaign minute every 3 real seconds, longer than a
    # worker takes to start, so reports mostly fall due one at a time and each gets its
    # own kill) over ten campaign minutes that straddle an hour mark, hh:55 to hh+1:05:
    # three milestones and both targets (one a minute, :55 to :59), two scheduled
    # reports (every 4 minutes: :59, :03), one TOP (hh+1:00) and the final: nine.
    # Two slots of a kind only: after an outage the newest three of a kind are written
    # (SLOT_BACKLOG), so however long the workers are down none is skipped.
    scale = 20
    now = now_ms()
    starts = now - now % HOUR + 55 * MINUTE
    span = 10 * MINUTE
    created_real = now_ms()
    c = stack.create_campaign(
        "kills",
        starts_at=starts,
        ends_at=starts + span,
        time_scale=scale,
        milestones_fen=[40_000, 80_000, 120_000],
        target_base_fen=160_000,
        target_stretch_fen=200_000,
        report_every_minutes=4,
        final_grace_seconds=1,
    )
    end_real = created_real + span / scale  # the campaign clock starts at creation

    # The sale goes on whatever the workers do, from the first campaign minute (a slot
    # is reported only after the first event): ¥450 a campaign minute until every
    # threshold has fallen (one a minute), then a trickle of ¥10 orders until a campaign
    # minute before the end.
    accepted = {"orders": 0, "gmv_fen": 0}
    stop_feeding = threading.Event()

    def feed() -> None:
        i = 0
        while not stop_feeding.is_set() and now_ms() < end_real - MINUTE / scale:
            brisk = accepted["gmv_fen"] < 225_000
            amount, n = (15_000, 3) if brisk else (1_000, 1)
            batch = [order(f"k{i + j}", amount) for j in range(n)]
            body = post(stack, "kills", c["ingest_token"], batch)
            accepted["orders"] += body["accepted"]
            accepted["gmv_fen"] += amount * body["accepted"]
            i += n
            stop_feeding.wait(MINUTE / scale / 1000 if brisk else 1.0)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    # Two targets, added before any worker runs: every report has its deliveries.
    hooks = [
        Hook(0, "json", receiver.url + "/json"),
        Hook(0, "wecom", receiver.url + "/wecom"),
    ]
    for h in hooks:
        h.id = add_hook(stack, "kills", h.url, h.fmt)
    cid = db.campaign_id("kills")
    for _ in range(2):
        stack.start_worker()

    kills = 0
    last_kill = time.time() * 1000
    seen = 0
    deadline = time.monotonic() + 300
    try:
        while True:
            assert time.monotonic() < deadline, "the final never came\n" + stack.outputs()
            n = db.count_reports(cid)
            if n > seen:
                # A new report row: kill every worker now, right after its commit,
                # before its poster pushes it or any worker delivers it.
                last_kill = restart_all(stack, 2)
                kills += 1
                seen = n
                if any(r.kind == "final" for r in db.reports(cid)):
                    break
            time.sleep(0.01)  # the poll's pace, not a wait for anything
    finally:
        stop_feeding.set()
        feeder.join(timeout=30)

    reports = db.reports(cid)
    assert accepted["gmv_fen"] >= 225_000, f"the sale never reached its thresholds: {accepted}"
    kinds = Counter(r.kind for r in reports)
    assert kinds == {
        "milestone": 3,
        "target_base": 1,
        "target_stretch": 1,
        "scheduled": 2,
        "top": 1,
        "final": 1,
    }, (
        kinds,
        [(r.key, r.text.splitlines()[0]) for r in reports],
        accepted,
        stack.snapshot("kills", c["viewer_token"])["per_minute"],
    )
    assert len({r.key for r in reports}) == len(reports) == 9
    assert reports[-1].kind == "final"

    wait_for(
        "every delivery ended or orphaned by the last kill",
        lambda: outbox_settled(db, cid, last_kill),
        deadline_s=90,
        explain=lambda: f"{db.deliveries(cid)}\n{stack.outputs()}",
    )
    swept = sweep_orphans(db, last_kill)
    tally = OutboxTally()
    status = check_outbox(stack, db, receiver, "kills", hooks, tally)
    assert tally.interrupted >= swept  # the live sweeper may have ended older ones
    check_screens(stack, db, "kills", c["viewer_token"])

    # The final reached the screens (above) and the groups: each target got it once,
    # unless the kill right after its commit caught a POST in flight, which the
    # delivery log then says (outcome `unknown`): at most once, on purpose.
    final = reports[-1]
    assert all(s in ("sent", "unknown") for s in status[final.id].values())

    def every_sale_counted() -> bool:
        totals = stack.snapshot("kills", c["viewer_token"])["totals"]
        return bool(totals["orders"] == accepted["orders"])

    wait_for("every accepted order on the screens", every_sale_counted, deadline_s=60)
    snap = stack.snapshot("kills", c["viewer_token"])
    assert snap["totals"]["gmv_fen"] == accepted["gmv_fen"]
    print(
        f"\n[kill after each commit] db={stack.database_url.split(':')[0]} "
        f"reports={len(reports)} kills={kills} deliveries={tally.deliveries} "
        f"delivered={tally.delivered} interrupted={tally.interrupted} "
        f"(arrived {tally.interrupted_arrived}, cut off {tally.partial}) final={status[final.id]} "
        f"orders={accepted['orders']} wall={time.monotonic() - began:.1f}s"
    )


# --- 2. a SIGKILL storm over 20 rounds of reports and fires ------------------------------

ROUNDS = 20
THRESHOLDS = {"milestone:100000", "milestone:200000", "milestone:300000"}
RULES = ["r1", "r2", "r3"]


def quiet_zone(start_ms: int, end_ms: int) -> str:
    """A time zone with no hour mark in (start, end]: no TOP report falls in a round.
    Shanghai's marks are on UTC hours, Kolkata's on UTC half hours; a span under 30
    minutes misses one of them."""
    for tz in ("Asia/Shanghai", "Asia/Kolkata"):
        if not [m for m in hour_marks(start_ms, end_ms, tz) if m > start_ms]:
            return tz
    raise AssertionError("no quiet zone")


def printed(proc: Proc) -> str:
    """What a process has printed so far, read without moving the file offset it
    shares with the child (a seek could make its next line overwrite earlier ones)."""
    fd = proc.log.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def running(proc: Proc) -> bool:
    """The worker is past its start (imports, runtime, restore) and runs its loops."""
    return proc.alive() and "aggregator" in (out := printed(proc)) and "started" in out


class Monkey:
    """Kills a random worker at random moments and starts another in its place, so
    `n` workers race on, each killed at any point of its work. Only a worker that runs
    its loops is killed, and only while another one runs too: on a loaded machine a
    worker takes seconds to start, and kills faster than starts would stop the sale
    rather than test it."""

    def __init__(self, stack: Stack, n: int, seed: int) -> None:
        self.stack = stack
        self.n = n
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.kill_times: list[float] = []  # time.monotonic() of each kill
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Monkey:
        for _ in range(self.n):
            self.stack.start_worker()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def kill_one(self) -> bool:
        """SIGKILL a random running worker (if another runs too) and start another in
        its place; False when there was none to kill."""
        with self.lock:
            up = [w for w in self.stack.workers() if running(w)]
            killed = len(up) >= 2
            if killed:
                self.rng.choice(up).kill()
                self.kill_times.append(time.monotonic())
            while len(self.stack.workers()) < self.n:
                self.stack.start_worker()
            return killed

    def kills_between(self, t0: float, t1: float) -> int:
        with self.lock:
            return sum(t0 <= t <= t1 for t in self.kill_times)

    def _run(self) -> None:
        try:
            # The chaos's own pace: a kill every 0.3 to 2 s (random moments, not waits).
            while not self.stop.wait(self.rng.uniform(0.3, 2.0)):
                self.kill_one()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc


def start_round(stack: Stack, receiver: Receiver, k: int) -> tuple[str, dict[str, Any], Hook]:
    """A campaign whose three thresholds fall in the last complete minute and whose
    three rules fire at once: everything is due as soon as its events are applied."""
    slug = f"storm-{k}"
    now = now_ms()
    ends = now + 20 * MINUTE
    rules = [
        {
            "name": name,
            "metric": "orders_per_min",
            "window_minutes": 1,
            "floor": 1_000_000,  # always "low": fires on its first judged minute
            "sustain_minutes": 1,
            "cooldown_minutes": 0,
            "max_fires": 1,
            "action": {"kind": "announcement", "amount_fen": 0, "text": f"📣 {name}"},
        }
        for name in RULES
    ]
    c = stack.create_campaign(
        slug,
        starts_at=now - HOUR,
        ends_at=ends,
        timezone=quiet_zone(now, ends),
        milestones_fen=[100_000, 200_000, 300_000],
        target_base_fen=400_000,
        target_stretch_fen=500_000,
        report_every_minutes=1440,  # no scheduled slot before the end
        stimulus_rules=rules,
    )
    hook = Hook(0, "json", f"{receiver.url}/{slug}")
    hook.id = add_hook(stack, slug, hook.url, "json")
    # Sales in the last complete minute (its crossing minute is complete: due once
    # applied), and chat now and in the next two minutes (`ts` may run up to five
    # minutes ahead), so whenever the rules look, their latest complete minute is never
    # a silent one (a silent feed holds every rule), however long the round takes.
    at = now_ms()
    past = at - at % MINUTE - MINUTE // 2
    events = [order(f"{slug}-o{i}", 100_000, past + i) for i in range(5)]
    chat = [message(f"{slug}-m{k}", at + k * MINUTE) for k in range(3)]
    post(stack, slug, c["ingest_token"], [*events, *chat])
    return slug, c, hook


def round_done(db: Db, slug: str) -> bool:
    cid = db.campaign_id(slug)
    keys_ = {r.key for r in db.reports(cid)}
    fires = {f.key for f in db.fires(cid)}
    want_fires = {f"fire:{r}:1" for r in RULES}
    want = THRESHOLDS | {"target_base", "target_stretch"} | {f"stimulus:{f}" for f in want_fires}
    return keys_ == want and fires == want_fires


def round_story(stack: Stack, db: Db, slug: str) -> str:
    cid = db.campaign_id(slug)
    return (
        f"reports {[r.key for r in db.reports(cid)]}\nfires {[f.key for f in db.fires(cid)]}\n"
        f"deliveries {db.deliveries(cid)}\n{stack.outputs()}"
    )


@pytest.mark.timeout(600)  # ~1 min unloaded; a machine several times slower still ends
def test_a_sigkill_storm_over_twenty_rounds_of_reports_and_fires(
    stack: Stack, db: Db, receiver: Receiver
) -> None:
    """Twenty rounds, one campaign each, run one after the other while three workers
    race and a random one is SIGKILLed every 0.3-2 s, and once more at a random moment
    of each round, and replaced. A round is due at once (its sales fall in an already
    complete minute: the watermark and the settling pass as soon as its events are
    applied), so its length is the time the racing, dying workers take: eight reports
    and three fires per round."""
    began = time.monotonic()
    stack.start_web()
    rounds: list[tuple[str, dict[str, Any], Hook]] = []
    per_round: list[float] = []
    mid_round: list[int] = []
    with Monkey(stack, 3, seed=17) as monkey:
        for k in range(ROUNDS):
            t0 = time.monotonic()
            slug, c, hook = start_round(stack, receiver, k)
            rounds.append((slug, c, hook))
            # Besides the storm's own kills, one at a random moment of each round's
            # work (its reports and fires are claimed within about a second of its
            # events): every round has a worker killed while it runs.
            time.sleep(monkey.rng.uniform(0.0, 0.8))  # a random moment, not a wait
            wait_for(f"round {k}: a worker killed", monkey.kill_one, deadline_s=120)
            wait_for(
                f"round {k}: every report and fire claimed",
                partial(round_done, db, slug),
                deadline_s=90,
                explain=partial(round_story, stack, db, slug),
            )
            per_round.append(time.monotonic() - t0)
            mid_round.append(monkey.kills_between(t0, time.monotonic()))
            assert monkey.failure is None, monkey.failure
    kills = len(monkey.kill_times)
    # The storm is over: kill whoever is left once more, so every `sending` row older
    # than this is an orphan of a kill, and let fresh workers finish the rest.
    last_kill = restart_all(stack, 3)

    for slug, _, _ in rounds:
        cid = db.campaign_id(slug)
        assert round_done(db, slug)  # nothing more, nothing less, after the storm too
        wait_for(
            f"{slug}: every delivery ended or orphaned by the last kill",
            partial(outbox_settled, db, cid, last_kill),
            deadline_s=90,
            explain=partial(round_story, stack, db, slug),
        )
    swept = sweep_orphans(db, last_kill)
    tally = OutboxTally()
    reports = fires = 0
    for slug, c, hook in rounds:
        cid = db.campaign_id(slug)
        check_outbox(stack, db, receiver, slug, [hook], tally)
        check_screens(stack, db, slug, c["viewer_token"])
        reports += len(db.reports(cid))
        fires += len(db.fires(cid))
    assert reports == ROUNDS * 8 and fires == ROUNDS * 3
    # (the live sweeper may have ended some orphans itself: a storm can last a minute)
    assert tally.interrupted >= swept
    assert kills >= ROUNDS, kills
    print(
        f"\n[sigkill storm] db={stack.database_url.split(':')[0]} rounds={ROUNDS} "
        f"reports={reports} fires={fires} kills={kills} "
        f"(per round {min(mid_round)}-{max(mid_round)}) deliveries={tally.deliveries} "
        f"delivered={tally.delivered} interrupted={tally.interrupted} "
        f"(arrived {tally.interrupted_arrived}, cut off {tally.partial}) round_s="
        f"{min(per_round):.1f}-{max(per_round):.1f} (median {sorted(per_round)[ROUNDS // 2]:.1f}) "
        f"wall={time.monotonic() - began:.1f}s"
    )


# --- 3. the stream trimmed while no worker runs ---------------------------------------------


def stream_state(stack: Stack, slug: str) -> tuple[list[bytes], list[bytes]]:
    """(ids not yet applied: pending or never delivered, every id on the stream)."""
    r = stack.redis()
    try:
        name = keys.stream(slug)
        group = next(g for g in r.xinfo_groups(name) if g["name"] == keys.AGG_GROUP.encode())
        last = group["last-delivered-id"]
        every = [eid for eid, _ in r.xrange(name)]
        pending = [p["message_id"] for p in r.xpending_range(name, keys.AGG_GROUP, "-", "+", 10**6)]
        unread = [eid for eid in every if id_tuple(eid) > id_tuple(last)]
        return sorted(pending + unread, key=id_tuple), every
    finally:
        r.close()


def trim(stack: Stack, slug: str) -> None:
    """The trim the aggregator runs every 30 s (`EventStream.trim`), run now."""

    async def once() -> None:
        client = AsyncRedis.from_url(stack.redis_url, socket_timeout=5)
        try:
            await EventStream(client).trim(slug)
        finally:
            await client.aclose()

    asyncio.run(once())


def test_the_stream_trimmed_with_workers_stopped_loses_and_doubles_nothing(
    stack: Stack, db: Db
) -> None:
    began = time.monotonic()
    stack.start_web()
    first = stack.start_worker()
    c = stack.create_campaign("trim", milestones_fen=[], report_every_minutes=1440)
    token, viewer = c["ingest_token"], c["viewer_token"]
    want = {"orders": 0, "gmv_fen": 0, "messages": 0}

    def send(prefix: str, n: int, per_post: int = 50) -> None:
        for p in range(n // per_post):
            batch = []
            for i in range(per_post):
                k = p * per_post + i
                if k % 5 == 4:
                    batch.append(message(f"{prefix}m{k}"))
                else:
                    batch.append(order(f"{prefix}o{k}", 100 + k % 997))
            body = post(stack, "trim", token, batch)
            assert body["accepted"] == per_post  # new identities, all of them
            for e in batch:
                if e["type"] == "order":
                    want["orders"] += 1
                    want["gmv_fen"] += e["amount_fen"]
                else:
                    want["messages"] += 1

    def applied() -> bool:
        t = stack.snapshot("trim", viewer)["totals"]
        return t["orders"] == want["orders"] and t["messages"] == want["messages"]

    # A: applied and acknowledged by a live worker: what a trim may drop.
    send("a", 500)
    wait_for("the first events applied", applied, deadline_s=60, explain=stack.outputs)

    # Every worker stopped. The first is frozen (SIGSTOP) where it stands, most likely
    # blocked in its read: Redis hands that read the next entry, which then stays
    # pending with a worker that cannot apply it. Then far more events than the trim
    # keeps behind the group (its floor: nothing at or after the oldest pending or
    # undelivered entry is trimmed), all unread, and a consumer that read two entries
    # and died before acknowledging them (what a SIGKILL between XREADGROUP and XACK
    # leaves: the window is too narrow to hit with a real kill on demand).
    first.signal(signal.SIGSTOP)
    send("b", 200)
    send("c", 4000, per_post=100)
    r = stack.redis()
    try:
        r.xreadgroup(keys.AGG_GROUP, "killed-mid-batch", {keys.stream("trim"): ">"}, count=2)
        held = {
            c["name"].decode(): c["pending"]
            for c in r.xinfo_consumers(keys.stream("trim"), keys.AGG_GROUP)
        }
    finally:
        r.close()
    assert held.get("killed-mid-batch") == 2, held
    # Identities sent again (a client retrying): duplicates, never counted twice.
    again = [order(f"co{k}", 100 + k % 997) for k in range(0, 100) if k % 5 != 4]
    assert post(stack, "trim", token, again)["duplicates"] == len(again)

    todo, before = stream_state(stack, "trim")
    trim(stack, "trim")
    left_after, after = stream_state(stack, "trim")
    assert set(todo) <= set(after), "the trim dropped entries no worker had applied"
    assert left_after == todo
    trimmed = len(before) - len(after)
    assert trimmed >= 1, "the trim dropped nothing: it did not run behind the group"

    # Workers back (the frozen one killed): two drain the stream while the trim runs
    # again and again, and one of them is killed mid-drain; its entries are reclaimed.
    first.kill()
    drainers = [stack.start_worker(), stack.start_worker()]
    trims = 1
    stop = threading.Event()

    def keep_trimming() -> None:
        nonlocal trims
        while not stop.wait(0.05):  # the trim's own pace, as often as it likes
            trim(stack, "trim")
            trims += 1

    trimmer = threading.Thread(target=keep_trimming, daemon=True)
    trimmer.start()
    try:

        def some_applied() -> bool:
            return bool(stack.snapshot("trim", viewer)["totals"]["orders"] > 500)

        wait_for("the drain to begin", some_applied, deadline_s=60, explain=stack.outputs)
        drainers[0].kill()
        stack.start_worker()
        wait_for("every accepted event applied", applied, deadline_s=120, explain=stack.outputs)
        wait_for(
            "nothing pending on the stream",
            lambda: not stream_state(stack, "trim")[0],
            deadline_s=60,
            explain=stack.outputs,
        )
    finally:
        stop.set()
        trimmer.join(timeout=30)

    totals = stack.snapshot("trim", viewer)["totals"]
    ledger = db.ledger(db.campaign_id("trim"))
    assert totals["orders"] == want["orders"] == ledger["orders"]
    assert totals["gmv_fen"] == want["gmv_fen"] == ledger["gmv_fen"]
    assert totals["messages"] == want["messages"] == ledger["messages"]
    assert ledger["events"] == want["orders"] + want["messages"] == 4700
    r = stack.redis()
    try:
        assert r.xlen(keys.dead_letters("trim")) == 0
    finally:
        r.close()
    print(
        f"\n[trim, workers stopped] db={stack.database_url.split(':')[0]} "
        f"events={ledger['events']} stream_entries={len(before)} unapplied={len(todo)} "
        f"trimmed_first={trimmed} trims={trims} duplicates_resent={len(again)} "
        f"held_pending={held} "
        f"wall={time.monotonic() - began:.1f}s"
    )
