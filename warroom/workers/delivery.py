"""The webhook delivery loop: due deliveries, rate-limited per robot, retried with
backoff after failures, each report posted at most once per target."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
import orjson
from redis.asyncio import Redis

from warroom.adapters import keys
from warroom.adapters.campaigns import real_now_ms
from warroom.adapters.webhook import MAX_ATTEMPTS, Job, WebhookStore, resolves_private, sign
from warroom.core.clock import rfc3339
from warroom.core.render import wecom_markdown, wecom_text

log = logging.getLogger(__name__)
PER_MINUTE = 20  # WeCom group robots accept 20 messages a minute

# Sliding-window limiter: drop stamps older than a minute, count, add if room. Atomic,
# so several workers share one budget per robot. Returns 0 if allowed, else ms to wait.
_RATE_LUA = """
local key, now, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, 0, now - 60000)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, 61000)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + 60000 - now)
"""


def payload(job: Job) -> bytes:
    if job.format == "wecom":
        return orjson.dumps(wecom_markdown(job.text))
    if job.format == "wecom_text":
        return orjson.dumps(wecom_text(job.text))
    at = rfc3339(job.at_ms, "UTC")
    return orjson.dumps(
        {"report": {"id": job.report_id, "kind": job.kind, "at": at, "text": job.text}}
    )


class Deliverer:
    def __init__(
        self,
        store: WebhookStore,
        redis: Redis,
        allow_private: bool = False,
        backoff_base_s: float = 2.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.store = store
        self.redis = redis
        self.allow_private = allow_private
        self.backoff_base_s = backoff_base_s
        self._limit = redis.register_script(_RATE_LUA)
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def run_once(self) -> int:
        now = real_now_ms()
        await asyncio.to_thread(self.store.sweep_interrupted, now - 60_000, now)
        jobs = await asyncio.to_thread(self.store.due, now)
        sent = 0
        for job in jobs:
            wait = int(
                await self._limit(
                    keys=[keys.webhook_sent(job.webhook_id)],
                    args=[now, PER_MINUTE, f"{job.delivery_id}:{job.attempts}"],
                )
            )
            if wait:
                await asyncio.to_thread(self.store.defer, job.delivery_id, now + wait)
                continue
            if not await asyncio.to_thread(self.store.claim, job.delivery_id, now):
                continue  # another worker has it
            await self._send(job)
            sent += 1
        return sent

    async def _send(self, job: Job) -> None:
        body = payload(job)
        headers = {"Content-Type": "application/json"}
        if job.format == "json":
            ts = str(int(time.time()))
            headers["X-Warroom-Timestamp"] = ts
            if job.secret:
                headers["X-Warroom-Signature"] = "sha256=" + sign(job.secret, ts, body)
        status, error = None, ""
        if not self.allow_private and await asyncio.to_thread(resolves_private, job.url):
            ok, error = False, "url resolves to a loopback or link-local address"
            await self._finish(job, ok=False, status=None, error=error, retry=False)
            return
        try:
            res = await self._http.post(job.url, content=body, headers=headers)
            status = res.status_code
            ok = 200 <= status < 300
            if ok and job.format.startswith("wecom"):
                # WeCom answers 200 with {"errcode": ...}; non-zero is a failure.
                with contextlib.suppress(Exception):
                    code = res.json().get("errcode", 0)
                    if code:
                        ok, error = False, f"errcode {code}: {res.json().get('errmsg', '')}"
            if not ok and not error:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        await self._finish(job, ok=ok, status=status, error=error, retry=not ok)

    async def _finish(
        self, job: Job, *, ok: bool, status: int | None, error: str, retry: bool
    ) -> None:
        now = real_now_ms()
        retry_at = None
        if retry and job.attempts + 1 < MAX_ATTEMPTS:
            retry_at = now + int(self.backoff_base_s * 1000 * 2**job.attempts)
        if not ok:
            log.warning("webhook %s delivery %s failed: %s", job.webhook_id, job.delivery_id, error)
        await asyncio.to_thread(
            self.store.finish,
            job.delivery_id,
            ok=ok,
            status=status,
            error=error,
            now_ms=now,
            retry_at_ms=retry_at,
        )

    async def run(self, stop: asyncio.Event, every_s: float = 0.5) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("webhook delivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
        await self.close()
