"""Faults on the web side, against separate processes (tests/chaos/stack.py):

1. Redis drops the web's pub/sub connection (`CLIENT KILL TYPE pubsub`) while a viewer
   is connected: the hub resubscribes by itself and the viewer, on the same socket,
   sees the totals that follow.
2. The web process is SIGKILLed under 200 screens that reconnect with backoff, while a
   sender keeps posting: a new web on the same port takes every screen back, each
   sees the final totals, and nothing acknowledged is lost (snapshot == sum sent).
3. 200 concurrent wrong admin tokens (console sign-in, API bearer, both at once) over
   real sockets: exactly the limit hear 401, the rest 429 with Retry-After, no 5xx; a
   forged X-Forwarded-For changes nothing unless the peer is a trusted proxy; the
   right token still works from another address.

Distinct client addresses are real ones: Linux routes all of 127.0.0.0/8 to loopback,
so a client socket bound to 127.0.0.2 reaches the web on 127.0.0.1 from 127.0.0.2.

Every wait is for a condition, with a deadline; blocking stack calls run in a thread
so the screens' event loop keeps reading while a web process starts.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.bounded import cancel_all
from tests.chaos.stack import ADMIN, ADMIN_H, Stack
from tests.e2e.test_serve import free_port

T = TypeVar("T")
GOAL_S = 60.0  # generous: a machine half as fast as this one still passes


def order(oid: str, amount: int) -> dict[str, Any]:
    return {"type": "order", "order_id": oid, "amount_fen": amount, "seller_id": "s",
            "group_id": "g", "buyer_id": f"b-{oid}", "product_id": "p"}  # fmt: skip


def ws_url(stack: Stack, slug: str, token: str) -> str:
    return f"ws://127.0.0.1:{stack.port}/ws/campaigns/{slug}?token={token}"


async def until(
    what: str,
    check: Callable[[], T],
    deadline_s: float = GOAL_S,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll `check` on the event loop until truthy; fail after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            detail = explain() if explain else ""
            raise AssertionError(f"timed out after {deadline_s:g} s waiting for {what}\n{detail}")
        await asyncio.sleep(0.1)


def ingest(stack: Stack, slug: str, token: str, events: list[dict[str, Any]]) -> None:
    res = stack.post_events(slug, token, events)
    assert res.status_code == 202, res.text
    body = res.json()
    assert body["accepted"] == len(events) and not body["rejected"], body


def sum_of(events: list[dict[str, Any]]) -> dict[str, int]:
    return {"orders": len(events), "gmv_fen": sum(e["amount_fen"] for e in events)}


def shows(totals: dict[str, Any] | None, want: dict[str, int]) -> bool:
    return totals is not None and all(totals.get(k) == v for k, v in want.items())


# -- 1. the hub's pub/sub connection killed under a connected viewer ----------------------


async def read_frames(ws: ClientConnection, frames: list[dict[str, Any]]) -> None:
    async for raw in ws:
        frames.append(orjson.loads(raw))


async def test_pubsub_client_kill_with_a_viewer_connected(stack: Stack) -> None:
    # Rooms also render on their own every WARROOM_WS_HEARTBEAT_S (5 s), which would
    # show new totals even with the subscriber dead; with it at 10 minutes the only
    # way a total reaches the screen within the deadline is a `wr:changed` hint heard
    # by the hub's subscriber.
    await asyncio.to_thread(stack.start_web, WARROOM_WS_HEARTBEAT_S="600")
    stack.start_worker()
    c = await asyncio.to_thread(stack.create_campaign, "pubsub")
    sent: list[dict[str, Any]] = []
    r = stack.redis()
    async with connect(ws_url(stack, "pubsub", c["viewer_token"]), open_timeout=30) as ws:
        frames: list[dict[str, Any]] = []
        reader = asyncio.create_task(read_frames(ws, frames), name="viewer")

        def latest() -> dict[str, Any] | None:
            with_totals = [f for f in frames if "totals" in f]
            return with_totals[-1]["totals"] if with_totals else None

        def explain() -> str:
            return f"frames {len(frames)}, latest {latest()}, reader {reader}\n{stack.outputs()}"

        try:
            await until("the first snapshot", lambda: frames, explain=explain)
            assert frames[0]["type"] == "snapshot"
            batch = [order(f"a{i}", 100 + i) for i in range(5)]
            await asyncio.to_thread(ingest, stack, "pubsub", c["ingest_token"], batch)
            sent += batch
            await until("the first orders on screen", lambda: shows(latest(), sum_of(sent)),
                        explain=explain)  # fmt: skip
            for kill in range(1, 3):  # twice: a resubscribed subscriber survives a kill too
                killed = r.client_kill_filter(_type="pubsub")
                assert killed >= 1, "no pub/sub client to kill"
                began = time.monotonic()
                batch = [order(f"k{kill}-{i}", 1000 * kill + i) for i in range(5)]
                await asyncio.to_thread(ingest, stack, "pubsub", c["ingest_token"], batch)
                sent += batch
                want = sum_of(sent)
                await until(
                    f"the totals after kill {kill} on the same socket",
                    lambda: shows(latest(), want),  # noqa: B023 - awaited here, in this pass
                    explain=explain,
                )
                print(f"kill {kill}: {killed} pub/sub clients, totals on screen "
                      f"{time.monotonic() - began:.2f} s after")  # fmt: skip
            assert not reader.done(), "the socket closed: the viewer had to reconnect"
            seqs = [f["seq"] for f in frames]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
            assert sum(f["type"] == "snapshot" for f in frames) == 1  # one connection
            stats = httpx.get(f"{stack.base}/ws/stats", headers=ADMIN_H, timeout=10).json()
            print(f"frames {len(frames)}, hub stats: subscribed {stats['subscribed']}, "
                  f"resubscribes {stats['resubscribes']}")  # fmt: skip
            assert stats["subscribed"] and stats["resubscribes"] >= 2, stats
        finally:
            await cancel_all([reader], "the viewer's reader")
    snap = await asyncio.to_thread(stack.snapshot, "pubsub", c["viewer_token"])
    assert shows(snap["totals"], sum_of(sent))


# -- 2. SIGKILL of the web under 200 reconnecting screens ----------------------------------


class Screen:
    """A dashboard screen: connects, keeps the latest totals, and on any close or
    error reconnects with jittered exponential backoff (0.1 s doubling to 2 s)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.totals: dict[str, Any] | None = None
        self.frames = 0
        self.snapshots: list[float] = []  # when each connection's snapshot came
        self.lost: list[float] = []  # when each connection or attempt failed
        self.errors: Counter[str] = Counter()

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with connect(self.url, open_timeout=20, close_timeout=2) as ws:
                    async for raw in ws:
                        frame = orjson.loads(raw)
                        self.frames += 1
                        if frame.get("type") == "snapshot":
                            self.snapshots.append(time.monotonic())
                            backoff = 0.1
                        if "totals" in frame:
                            self.totals = frame["totals"]
                self.errors["closed"] += 1
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as exc:
                self.errors[type(exc).__name__] += 1
            except Exception as exc:  # noqa: BLE001 - a screen retries whatever failed
                self.errors[type(exc).__name__] += 1
            self.lost.append(time.monotonic())
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(2 * backoff, 2.0)


class Sender:
    """Posts batches of orders in a thread, each retried (same order ids, so a retry is
    at worst a duplicate) until the web answers 202: what a real order feed does
    across a web restart. `acked` counts batches fully acknowledged."""

    def __init__(self, stack: Stack, slug: str, token: str, batches: int, size: int) -> None:
        self.stack, self.slug, self.token = stack, slug, token
        self.events = [
            order(f"s{b}-{i}", 37 + 7 * b + i) for b in range(batches) for i in range(size)
        ]
        self.size = size
        self.acked = 0
        self.retries = 0
        self.duplicates = 0
        self.stop = threading.Event()
        self.pause_s = 0.1

    def run(self, deadline_s: float = 2 * GOAL_S) -> None:
        deadline = time.monotonic() + deadline_s
        for start in range(0, len(self.events), self.size):
            batch = self.events[start : start + self.size]
            while True:
                assert not self.stop.is_set(), "sender stopped"
                assert time.monotonic() < deadline, f"batch {start} not acknowledged in time"
                try:
                    res = httpx.post(
                        f"{self.stack.base}/api/v1/campaigns/{self.slug}/events",
                        json=batch,
                        headers={"Authorization": f"Bearer {self.token}"},
                        timeout=15,
                    )
                except httpx.HTTPError:
                    res = None
                if res is not None and res.status_code == 202:
                    body = res.json()
                    assert not body["rejected"], body
                    assert body["accepted"] + body["duplicates"] == len(batch), body
                    self.duplicates += body["duplicates"]
                    break
                assert res is None or res.status_code in (429, 503), res.text
                self.retries += 1
                time.sleep(0.2)
            self.acked += 1
            time.sleep(self.pause_s)  # a feed's pace, so that the kill lands mid-stream


VIEWERS = 200


async def test_web_sigkill_with_200_reconnecting_viewers(stack: Stack) -> None:
    # The 200 screens all come from 127.0.0.1, where real screens have an address each;
    # the per-address cap (200) is not under test here (tests/integration/test_edge_limits.py
    # covers it), and at exactly the cap a screen reconnecting before the server has
    # counted its old socket out would hear 429 and wait out a backoff for nothing.
    env = {"WARROOM_WS_MAX_PER_ADDRESS": str(4 * VIEWERS)}
    began = time.monotonic()
    await asyncio.to_thread(stack.start_web, **env)
    stack.start_worker()
    c = await asyncio.to_thread(stack.create_campaign, "kill")
    first = [order(f"f{i}", 500 + i) for i in range(20)]
    await asyncio.to_thread(ingest, stack, "kill", c["ingest_token"], first)
    screens = [Screen(ws_url(stack, "kill", c["viewer_token"])) for _ in range(VIEWERS)]
    tasks = [asyncio.create_task(s.run(), name=f"screen{i}") for i, s in enumerate(screens)]
    sender_task: asyncio.Future[None] | None = None
    sender = Sender(stack, "kill", c["ingest_token"], batches=30, size=10)

    def behind(want: dict[str, int]) -> list[Screen]:
        return [s for s in screens if not shows(s.totals, want)]

    def explain() -> str:
        errors = sum((s.errors for s in screens), Counter())
        late = [s.totals for s in screens if s.totals is not None][:3]
        return (f"connected {sum(bool(s.snapshots) for s in screens)}, errors {dict(errors)}, "
                f"sender acked {sender.acked} retries {sender.retries}, some totals {late}\n"
                f"{stack.outputs()}")  # fmt: skip

    try:
        await until(f"{VIEWERS} screens showing the first orders",
                    lambda: not behind(sum_of(first)), explain=explain)  # fmt: skip
        connected_s = time.monotonic() - began
        sending = sender_task = asyncio.ensure_future(asyncio.to_thread(sender.run))
        await until(
            "a few batches acknowledged before the kill",
            lambda: sender.acked >= 3 or sending.done(),
            explain=explain,
        )
        assert not sending.done(), sending  # it failed, or it ended before the kill
        acked_at_kill = sender.acked
        assert stack.web is not None
        old_pid = stack.web.pid
        killed_at = time.monotonic()
        stack.web.kill()
        await until("every screen noticing the kill",
                    lambda: all(s.lost and s.lost[-1] >= killed_at for s in screens),
                    deadline_s=30, explain=explain)  # fmt: skip
        noticed_s = max(s.lost[-1] for s in screens) - killed_at
        await asyncio.to_thread(stack.start_web, port=stack.port, **env)
        assert stack.web.pid != old_pid
        ready_s = time.monotonic() - killed_at
        await until("every screen reconnected",
                    lambda: all(s.snapshots and s.snapshots[-1] > killed_at for s in screens),
                    explain=explain)  # fmt: skip
        reconnects = sorted(s.snapshots[-1] - killed_at for s in screens)
        await asyncio.wait_for(sending, 2 * GOAL_S)
        want = sum_of(first + sender.events)
        await until(f"{VIEWERS} screens showing every order sent",
                    lambda: not behind(want), explain=explain)  # fmt: skip
        all_seen_s = time.monotonic() - killed_at
        snap = await asyncio.to_thread(stack.snapshot, "kill", c["viewer_token"])
        assert shows(snap["totals"], want), (snap["totals"], want)  # nothing lost
        assert all(len(s.snapshots) >= 2 for s in screens)
        frames = sorted(s.frames for s in screens)
        print(f"\n{VIEWERS} screens connected {connected_s:.1f} s after start; after SIGKILL: "
              f"all noticed {noticed_s:.2f} s, new web ready {ready_s:.1f} s, reconnected "
              f"median {reconnects[len(reconnects) // 2]:.1f} s max {reconnects[-1]:.1f} s, "
              f"all showing {want} at {all_seen_s:.1f} s; frames per screen "
              f"{frames[0]}..{frames[-1]}; sender retries {sender.retries}, duplicates "
              f"{sender.duplicates}, batches acknowledged at the kill {acked_at_kill}/30; errors "
              f"{dict(sum((s.errors for s in screens), Counter()))}")  # fmt: skip
    finally:
        sender.stop.set()
        await cancel_all(tasks, "the screens", deadline_s=15)
        if sender_task is not None:  # the thread sees `stop` within one request
            await asyncio.wait({sender_task}, timeout=30)


# -- 3. 200 concurrent wrong admin tokens --------------------------------------------------

LIMIT = 10  # WARROOM_CONSOLE_MAX_FAILED_LOGINS' default
BURST = 200


def client(base: str, address: str) -> httpx.AsyncClient:
    """Requests from `address` (a loopback address of this machine), over real sockets,
    up to BURST at once."""
    transport = httpx.AsyncHTTPTransport(
        local_address=address,
        limits=httpx.Limits(max_connections=BURST, max_keepalive_connections=0),
    )
    return httpx.AsyncClient(transport=transport, base_url=base, timeout=30)


def forged(i: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{i % 250}"}


async def burst(
    label: str, attempts: list[Callable[[], Awaitable[httpx.Response]]]
) -> list[httpx.Response]:
    began = time.monotonic()
    answers = await asyncio.wait_for(asyncio.gather(*(a() for a in attempts)), GOAL_S)
    codes = Counter(r.status_code for r in answers)
    print(f"{label}: {dict(codes)} in {time.monotonic() - began:.2f} s")
    return answers


def assert_limit_held(answers: list[httpx.Response]) -> None:
    codes = Counter(r.status_code for r in answers)
    assert codes[401] == LIMIT and codes[429] == len(answers) - LIMIT, codes
    for r in answers:
        if r.status_code == 429:
            assert 1 <= int(r.headers["Retry-After"]) <= 60, r.headers


async def test_200_concurrent_wrong_sign_ins(stack: Stack) -> None:
    await asyncio.to_thread(stack.start_web)
    plain = stack.base
    wrong_form = {"token": "wrong"}
    right_form = {"token": ADMIN}

    # Console sign-in, each attempt with another forged X-Forwarded-For: ignored (no
    # trusted proxy), so all 200 count against the socket's own address.
    async with client(plain, "127.0.0.2") as attacker:
        answers = await burst("sign-in, forged XFF", [
            lambda i=i: attacker.post("/admin/login", data=wrong_form, headers=forged(i))
            for i in range(BURST)
        ])  # fmt: skip
        assert_limit_held(answers)
        res = await attacker.post("/admin/login", data=right_form, headers=forged(7))
        assert res.status_code == 429, res.status_code  # locked, the right token too
    async with client(plain, "127.0.0.3") as operator:
        res = await operator.post("/admin/login", data=right_form)
        assert res.status_code == 303, res.text

    # The API's admin bearer, from another address.
    wrong = {"Authorization": "Bearer wrong"}
    async with client(plain, "127.0.0.4") as attacker:
        answers = await burst("API bearer", [
            lambda i=i: attacker.get("/api/v1/campaigns", headers={**wrong, **forged(i)})
            for i in range(BURST)
        ])  # fmt: skip
        assert_limit_held(answers)
        res = await attacker.get("/api/v1/campaigns", headers=ADMIN_H)
        assert res.status_code == 429
    async with client(plain, "127.0.0.5") as operator:
        res = await operator.get("/api/v1/campaigns", headers=ADMIN_H)
        assert res.status_code == 200, res.text

    # Both at once from one address: they guess one secret and share one count.
    async with client(plain, "127.0.0.6") as attacker:
        answers = await burst("sign-in + bearer mixed", [
            (lambda: attacker.post("/admin/login", data=wrong_form)) if i % 2 else
            (lambda: attacker.get("/api/v1/campaigns", headers=wrong))
            for i in range(BURST)
        ])  # fmt: skip
        assert_limit_held(answers)

    # Behind a trusted proxy (a second web process, same Redis): X-Forwarded-For from
    # 127.0.0.1 is believed, so it now names the address that is counted and locked.
    await asyncio.to_thread(stack.start_web, port=free_port(), WARROOM_TRUSTED_PROXIES="127.0.0.1")
    proxied = stack.base
    assert proxied != plain
    async with client(proxied, "127.0.0.1") as proxy:
        xff = {"X-Forwarded-For": "203.0.113.50"}
        answers = await burst("sign-in via trusted proxy", [
            lambda: proxy.post("/admin/login", data=wrong_form, headers=xff) for _ in range(BURST)
        ])  # fmt: skip
        assert_limit_held(answers)
        res = await proxy.post("/admin/login", data=right_form, headers=xff)
        assert res.status_code == 429
        res = await proxy.post(
            "/admin/login", data=right_form, headers={"X-Forwarded-For": "203.0.113.51"}
        )
        assert res.status_code == 303, res.text
    # A peer that is not the trusted proxy cannot claim another address there either:
    # 127.0.0.2, locked on the first web, is locked on this one (the count is in Redis).
    async with client(proxied, "127.0.0.2") as attacker:
        res = await attacker.post(
            "/admin/login", data=right_form, headers={"X-Forwarded-For": "203.0.113.52"}
        )
        assert res.status_code == 429, res.status_code
