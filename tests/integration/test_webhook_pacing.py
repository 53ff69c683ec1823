"""Webhook pacing and isolation (issue 9, item 5), measured at a real receiver.

The limiter's limit and window are parameters (20 a minute by default, what WeCom group
robots accept); these tests use 5 per 2 s so they run in seconds, and assert only
orderings and spans at the receiver, never a speed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.conftest import harness_for
from tests.integration.receivers import Receiver, Trickler, add_hook, deliveries, fire
from warroom.adapters.outbound.delivery import Deliverer, Pace, backoff_ms
from warroom.workers import delivery


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def wait_for(cond, deadline_s: float, every_s: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(every_s)
    return bool(cond())


async def test_no_window_at_the_receiver_holds_more_than_the_limit(
    settings, receiver: Receiver
) -> None:
    """The first posts are answered slowly, the later ones at once: a limiter that counts
    posts from when they started lets the fast ones crowd into the window of the slow
    ones. Two workers share the budget."""
    settings.warroom_allow_private_webhooks = True
    pace = Pace(limit=5, window_s=2.0)
    total = 17
    receiver.delay_s = lambda n: 0.35 if n < pace.limit else 0.0
    async with harness_for(settings) as h:
        await h.create_campaign()
        assert (await add_hook(h, receiver.url + "?key=k", "wecom")).status_code == 201
        for i in range(total):
            await fire(h, f"公告 {i}")
        rt = h.runtime
        stop = asyncio.Event()
        workers = [
            Deliverer(rt.webhooks, rt.redis, allow_private=True, pace=pace) for _ in range(2)
        ]
        runs = [asyncio.create_task(delivery.run(w, stop, every_s=0.05)) for w in workers]
        try:
            assert await wait_for(lambda: len(receiver.arrivals) >= total, 120)
        finally:
            stop.set()
            await asyncio.gather(*runs)
        log = await deliveries(h)
    assert len(receiver.arrivals) == total  # each report once
    assert all(x["status"] == "delivered" and x["attempts"] == 1 for x in log)
    arrivals = sorted(receiver.arrivals)
    for first, later in zip(arrivals, arrivals[pace.limit :], strict=False):
        # Any limit+1 arrivals span at least the window (1 ms for clock rounding).
        assert later - first >= pace.window_s - 0.001, (first, later, arrivals)


async def test_a_hanging_target_does_not_delay_the_others(settings, receiver: Receiver) -> None:
    """The hanging target is first in line, twice; it answers a byte a second for a
    minute. The fast target still gets both reports at once, and the hanging post is
    cut at the deadline rather than held."""
    settings.warroom_allow_private_webhooks = True
    slow = Trickler(hold_s=60)
    try:
        async with harness_for(settings) as h:
            await h.create_campaign()
            assert (await add_hook(h, slow.url, "json")).status_code == 201
            assert (await add_hook(h, receiver.url, "json")).status_code == 201
            await fire(h, "公告 1")
            await fire(h, "公告 2")
            rt = h.runtime
            d = Deliverer(rt.webhooks, rt.redis, allow_private=True, timeout_s=4.0)
            stop = asyncio.Event()
            run = asyncio.create_task(delivery.run(d, stop, every_s=0.05))
            try:
                assert await wait_for(lambda: len(receiver.requests) == 2, 15)

                # Still within the first post's minute-long answer: it is cut at 4 s.
                async def cut() -> bool:
                    rows = [x for x in await deliveries(h) if x["url"] == slow.url]
                    return any("no answer within 4 s" in (x["last_error"] or "") for x in rows)

                end = time.monotonic() + 40
                while not await cut() and time.monotonic() < end:
                    await asyncio.sleep(0.2)
                assert await cut(), await deliveries(h)
            finally:
                stop.set()
                await run
    finally:
        slow.close()
    assert len(slow.started) >= 1


async def test_targets_run_concurrently_up_to_the_bound(settings) -> None:
    settings.warroom_allow_private_webhooks = True
    slow = Trickler(hold_s=60)
    try:
        async with harness_for(settings) as h:
            await h.create_campaign()
            for i in range(4):  # four targets (one server, four hooks)
                assert (await add_hook(h, f"{slow.url}?n={i}", "json")).status_code == 201
            await fire(h, "公告")
            rt = h.runtime
            d = Deliverer(rt.webhooks, rt.redis, allow_private=True, timeout_s=3.0, concurrency=2)
            await d.run_once()
            await d.close()
            log = await deliveries(h)
    finally:
        slow.close()
    # Two at a time: the third and fourth start only once the first two were cut at 3 s.
    started = sorted(slow.started)
    assert len(started) == 4
    assert started[2] - started[0] >= 1.5 and started[3] - started[1] >= 1.5, started
    assert all("no answer within 3 s" in x["last_error"] for x in log)


def test_backoff_grows_exponentially_with_jitter() -> None:
    assert [backoff_ms(n, 2.0, 600, 1.0) for n in range(5)] == [2000, 4000, 8000, 16000, 32000]
    assert [backoff_ms(n, 2.0, 600, 0.0) for n in range(3)] == [1000, 2000, 4000]
    assert backoff_ms(20, 2.0, 600, 1.0) == 600_000  # capped
    assert len({backoff_ms(3, 2.0, 600, r / 10) for r in range(11)}) == 11


async def test_retries_are_spread(settings, receiver: Receiver) -> None:
    """A target failing every post: the retry times follow the jittered schedule."""
    settings.warroom_allow_private_webhooks = True
    receiver.fail_next = 10**6
    async with harness_for(settings) as h:
        await h.create_campaign()
        await add_hook(h, receiver.url, "json")
        await fire(h, "公告")
        rt = h.runtime
        draws = iter([0.0, 1.0])
        d = Deliverer(
            rt.webhooks, rt.redis, allow_private=True, backoff_base_s=1.0, rand=lambda: next(draws)
        )
        before = int(time.time() * 1000)
        await d.run_once()  # attempt 1 fails: next in [0.5, 1] s; 0.5 s with rand 0
        after = int(time.time() * 1000)
        assert rt.webhooks.due(before + 450) == []
        assert rt.webhooks.due(after + 500) != []
        assert await wait_for(lambda: bool(rt.webhooks.due(int(time.time() * 1000))), 10)
        before = int(time.time() * 1000)
        await d.run_once()  # attempt 2 fails: next in [1, 2] s; 2 s with rand 1
        after = int(time.time() * 1000)
        assert rt.webhooks.due(before + 1950) == []
        assert rt.webhooks.due(after + 2000) != []
        await d.close()
    assert len(receiver.requests) == 2
