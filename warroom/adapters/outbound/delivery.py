"""The webhook delivery loop: due deliveries, paced per target, retried with jittered
backoff after failures, each report posted at most once per target.

Targets are served concurrently (a bounded number at a time) and each target's
deliveries in order, one at a time, so a hanging or slow robot holds up only its own
queue, and for at most the per-request deadline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson
from redis.asyncio import Redis

from warroom.adapters.clock import SYSTEM_CLOCK, Clock
from warroom.adapters.health import OutageLog
from warroom.adapters.metrics import catalogue as metrics
from warroom.adapters.outbound.netguard import (
    RefusedAddress,
    guarded_client,
    quiet_http_client_logs,
    redact_url,
)
from warroom.adapters.outbound.poster import FontMissing, find_font, render_png, wecom_image
from warroom.adapters.outbound.webhook import FORMATS, MAX_ATTEMPTS, Job, WebhookStore, sign
from warroom.adapters.redis import keys
from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import rfc3339
from warroom.core.reports.poster import report_poster_spec
from warroom.core.reports.render import wecom_markdown, wecom_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pace:
    """At most `limit` posts to one target in any `window_s` seconds, as the receiver
    sees them. WeCom group robots accept 20 messages a minute."""

    limit: int = 20
    window_s: float = 60.0


# One sorted set per target, shared by every worker. A member is one POST, scored by
# the time it ended (µs, Redis's clock) or, while it is in flight, by the latest time it
# can end. A new POST may start only when fewer than `limit` members ended after
# now − window. That bounds what the receiver sees: for any `limit`+1 arrivals, the
# last to start began after the others and before its own arrival; each of the others
# arrived within the window before that arrival and ended after arriving, so it was
# still counted when the last one asked. Stamping the start (the old limiter) lets
# slow early posts and fast late ones crowd into one window at the receiver.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + hold, ARGV[4])
  local keep = math.ceil((hold + window) / 1000) + 1000
  if redis.call('PTTL', KEYS[1]) < keep then
    redis.call('PEXPIRE', KEYS[1], keep)
  end
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) / 1000))
"""

# The POST has ended (answered, failed or timed out): its member now counts from here.
_ENDED_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
local keep = math.ceil(tonumber(ARGV[2]) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < keep then  -- never shorten: others may be in flight
  redis.call('PEXPIRE', KEYS[1], keep)
end
return 0
"""


def payload(job: Job) -> bytes:
    """The body of a text delivery (image targets: `Deliverer._body`)."""
    if job.format in ("wecom", "wecom_image", "wecom_image_masked"):
        return orjson.dumps(wecom_markdown(job.text))
    if job.format == "wecom_text":
        return orjson.dumps(wecom_text(job.text))
    at = rfc3339(job.at_ms, "UTC")
    report = {"id": job.report_id, "kind": job.kind, "at": at, "text": job.text}
    if job.figures is not None:
        report["figures"] = job.figures
    return orjson.dumps({"report": report})


def backoff_ms(attempts: int, base_s: float, cap_s: float, rand: float) -> int:
    """Exponential backoff with jitter: between half and all of base × 2^attempts
    (capped), so targets that failed together do not retry together."""
    full = min(cap_s, base_s * 2**attempts) * 1000
    return int(full / 2 + rand * full / 2)


def _retry_after_ms(res: httpx.Response) -> int:
    with contextlib.suppress(ValueError):
        return int(float(res.headers.get("Retry-After", "")) * 1000)
    return 0


@dataclass
class Outcome:
    ok: bool
    status: int | None = None
    error: str = ""
    retry: bool = True
    at_least_ms: int = 0  # the target asked us to wait this long
    seconds: float = 0.0  # the exchange with the target (the POST), for the metrics


def metric_kind(fmt: str) -> str:
    """The `kind` label of the delivery metrics: the target's format (a fixed set)."""
    return fmt if fmt in FORMATS else "other"


class Deliverer:
    def __init__(
        self,
        store: WebhookStore,
        redis: Redis,
        allow_private: bool = False,
        backoff_base_s: float = 2.0,
        timeout_s: float = 10.0,
        *,
        pace: Pace = Pace(),  # noqa: B008 - frozen dataclass
        concurrency: int = 16,
        backoff_cap_s: float = 600.0,
        rand: Callable[[], float] = random.random,
        settings_of: Callable[[int], CampaignSettings | None] | None = None,
        poster_font: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.store = store
        self.redis = redis
        self.allow_private = allow_private
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.timeout_s = timeout_s
        self.pace = pace
        self._rand = rand
        self._window_us = int(pace.window_s * 1_000_000)
        # An in-flight member counts until it ends; if its worker dies, until this much
        # after it started (the POST itself is cut at timeout_s).
        self._hold_us = int((timeout_s + 5.0) * 1_000_000)
        self._reserve = redis.register_script(_RESERVE_LUA)
        self._ended = redis.register_script(_ENDED_LUA)
        # Image targets: the campaign's settings by id (name, time zone, target) and
        # the configured CJK font; without either an image target gets the text.
        self._settings_of = settings_of
        self._poster_font = poster_font
        self._posters: dict[tuple[int, int, bool], bytes] = {}
        self._font_log = OutageLog(log, "poster for image webhooks (sending text instead)")
        self._slots = asyncio.Semaphore(concurrency)
        self._busy: dict[int, asyncio.Task[int]] = {}
        quiet_http_client_logs()
        self._http = guarded_client(
            allow_private=allow_private,
            timeout=httpx.Timeout(timeout_s),
            max_connections=concurrency,
        )

    async def close(self, grace_s: float = 0.0) -> None:
        """Let in-flight posts finish for up to `grace_s`, cancel the rest (their rows stay
        `sending` and are swept with the outcome unknown: never posted twice), close
        the client."""
        pending = list(self._busy.values())
        if pending and grace_s > 0:
            _, pending_set = await asyncio.wait(pending, timeout=grace_s)
            pending = list(pending_set)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._http.aclose()

    async def dispatch(self) -> list[asyncio.Task[int]]:
        """One pass: a task per target with due deliveries and none running already."""
        now = self.clock.now_ms()
        swept = await asyncio.to_thread(self.store.sweep_interrupted, now - 60_000, now)
        if swept:
            log.warning("%d webhook deliveries interrupted mid-send: outcome unknown", swept)
        jobs = await asyncio.to_thread(self.store.due, now, 200, list(self._busy))
        queues: dict[int, list[Job]] = {}
        for job in jobs:
            queues.setdefault(job.webhook_id, []).append(job)
        started = []
        for hook_id, queue in queues.items():
            task = asyncio.create_task(self._drain(queue), name=f"webhook-{hook_id}")
            self._busy[hook_id] = task
            task.add_done_callback(functools.partial(self._drained, hook_id))
            started.append(task)
        return started

    def _drained(self, hook_id: int, task: asyncio.Task[int]) -> None:
        self._busy.pop(hook_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook %s: delivery task failed", hook_id, exc_info=task.exception())

    async def run_once(self) -> int:
        """One pass, waiting for every post it started (tests, and `warroom` tools)."""
        tasks = await self.dispatch()
        return sum(await asyncio.gather(*tasks))

    async def _drain(self, queue: list[Job]) -> int:
        sent = 0
        async with self._slots:
            for i, job in enumerate(queue):
                if not await asyncio.to_thread(
                    self.store.claim, job.delivery_id, self.clock.now_ms()
                ):
                    continue  # another worker has it
                key = keys.webhook_sent(job.webhook_id)
                member = f"{job.delivery_id}:{job.attempts}:{uuid.uuid4().hex}"
                wait = int(
                    await self._reserve(
                        keys=[key], args=[self.pace.limit, self._window_us, self._hold_us, member]
                    )
                )
                if wait:
                    until = self.clock.now_ms() + wait
                    await asyncio.to_thread(self.store.release, job.delivery_id, until)
                    rest = [j.delivery_id for j in queue[i + 1 :]]
                    await asyncio.to_thread(self.store.defer_many, rest, until)
                    break
                try:
                    outcome = await self._post(job)
                finally:
                    with contextlib.suppress(Exception):
                        await self._ended(keys=[key], args=[member, self._window_us])
                await self._finish(job, outcome)
                sent += 1
        return sent

    async def send_now(self, job: Job) -> Outcome:
        """Post one message at once (the console's test message): the same address
        guard, payload, signature and shared per-target pace as a delivery, no retry."""
        key = keys.webhook_sent(job.webhook_id)
        member = f"test:{uuid.uuid4().hex}"
        wait = int(
            await self._reserve(
                keys=[key], args=[self.pace.limit, self._window_us, self._hold_us, member]
            )
        )
        if wait:
            return Outcome(False, error=f"rate limited: try again in {wait / 1000:.0f} s")
        try:
            return await self._post(job)
        finally:
            with contextlib.suppress(Exception):
                await self._ended(keys=[key], args=[member, self._window_us])

    async def _body(self, job: Job) -> bytes:
        if job.format.startswith("wecom_image"):
            png = await self._poster(job, mask=job.format.endswith("_masked"))
            if png is not None:
                return orjson.dumps(wecom_image(png))
        return payload(job)

    async def _poster(self, job: Job, mask: bool) -> bytes | None:
        """The report's poster PNG, or None (no font, unknown campaign): the group then
        gets the report as text, which is better than nothing or a poster of boxes."""
        key = (job.campaign_id, job.report_id, mask)
        if key in self._posters:
            return self._posters[key]
        try:
            if self._settings_of is None:
                raise FontMissing("no campaign settings to draw the poster from")
            settings = await asyncio.to_thread(self._settings_of, job.campaign_id)
            if settings is None:
                raise FontMissing(f"campaign {job.campaign_id} is gone")
            font = find_font(self._poster_font)
            spec = report_poster_spec(settings, job.kind, job.text, job.memo, job.at_ms, mask)
            png = await asyncio.to_thread(render_png, spec, font)
        except Exception as exc:
            self._font_log.failed(exc)
            return None
        self._font_log.ok()
        if job.report_id:  # the console's test message (no report) is not kept
            self._posters[key] = png
            while len(self._posters) > 16:
                self._posters.pop(next(iter(self._posters)))
        return png

    async def _post(self, job: Job) -> Outcome:
        body = await self._body(job)
        headers = {"Content-Type": "application/json"}
        if job.format == "json":
            ts = str(int(time.time()))
            headers["X-Warroom-Timestamp"] = ts
            if job.secret:
                headers["X-Warroom-Signature"] = "sha256=" + sign(job.secret, ts, body)
        began = time.perf_counter()
        outcome = await self._exchange(job, body, headers)
        outcome.seconds = time.perf_counter() - began
        return outcome

    async def _exchange(self, job: Job, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            # httpx's timeout is per read; a target dripping a byte at a time would hold
            # the slot for ever without this deadline on the whole exchange.
            async with asyncio.timeout(self.timeout_s):
                res = await self._http.post(job.url, content=body, headers=headers)
        except TimeoutError:
            return Outcome(False, error=f"no answer within {self.timeout_s:g} s")
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, RefusedAddress):
                return Outcome(False, error=str(exc.__cause__), retry=False)
            return Outcome(False, error=redact_url(f"{type(exc).__name__}: {exc}"))
        status = res.status_code
        if 300 <= status < 400:
            return Outcome(False, status, f"HTTP {status}: redirects are not followed", False)
        if not 200 <= status < 300:
            return Outcome(False, status, f"HTTP {status}", at_least_ms=_retry_after_ms(res))
        if job.format.startswith("wecom"):
            # WeCom answers 200 with {"errcode": ...}; non-zero is a failure.
            with contextlib.suppress(Exception):
                answer = res.json()
                code = answer.get("errcode", 0)
                if code:
                    # 45009: the robot's own rate limit; wait a window before trying.
                    wait = int(self.pace.window_s * 1000) if code == 45009 else 0
                    error = f"errcode {code}: {answer.get('errmsg', '')}"
                    return Outcome(False, status, redact_url(error), at_least_ms=wait)
        return Outcome(True, status)

    async def _finish(self, job: Job, outcome: Outcome) -> None:
        now = self.clock.now_ms()
        retry_at = None
        if not outcome.ok and outcome.retry and job.attempts + 1 < MAX_ATTEMPTS:
            delay = backoff_ms(job.attempts, self.backoff_base_s, self.backoff_cap_s, self._rand())
            retry_at = now + max(delay, outcome.at_least_ms)
        if not outcome.ok:
            log.warning(
                "webhook %s (%s) delivery %s failed: %s",
                job.webhook_id,
                redact_url(job.url),
                job.delivery_id,
                outcome.error,
            )
        await asyncio.to_thread(
            self.store.finish,
            job.delivery_id,
            ok=outcome.ok,
            status=outcome.status,
            error=outcome.error,
            now_ms=now,
            retry_at_ms=retry_at,
        )
        # Counted once the attempt's end is recorded (a row left `sending` is swept with
        # its outcome unknown, and not counted here).
        kind = metric_kind(job.format)
        result = "delivered" if outcome.ok else "retry" if retry_at is not None else "failed"
        metrics.DELIVERIES.labels(kind, result).inc()
        metrics.DELIVERY_SECONDS.labels(kind).observe(outcome.seconds)
