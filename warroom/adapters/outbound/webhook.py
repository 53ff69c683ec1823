"""Outgoing webhooks: WeCom group robots and a generic signed JSON hook.

Each report is delivered at most once per target: a delivery row is unique per
(webhook, report), written with the report itself (adapters/sql/report_store.py
`claim_report`), and a row is claimed (`sending`) before the POST. A worker that dies
mid-POST leaves it `sending`; the sweeper ends it (status `failed`: never retried)
with the outcome `unknown`, since the post may well have arrived, rather than risk a
second post into a group chat that cannot tell a repeat.

A target may name the `group_id` its robot lives in: the stimulus report of a fire that
held that group out (contract v3, "Stimulus that proves itself") queues no delivery for
it (report_store `claim_report(skip_groups=...)`); every other report reaches it as it
reaches any target."""

from __future__ import annotations

import builtins
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from warroom.adapters.outbound.netguard import literal_ip, redact_url, refusal, resolve
from warroom.adapters.sql.tables import DeliveryRow, ReportRow, WebhookRow
from warroom.core.ingest.events import MAX_ID_LEN
from warroom.core.links import has_control
from warroom.core.records import WebhookTarget

MAX_ATTEMPTS = 6
# What the sweeper writes on a post that was in flight when its worker died: the row's
# status is `failed` (ended, not retried) and its outcome, read from this, `unknown`.
UNKNOWN = "unknown (interrupted)"
INTERRUPTED = (
    f"{UNKNOWN}: in flight when its worker stopped, it may have arrived; "
    "not retried, so a group never sees it twice"
)


def outcome(status: str, last_error: str) -> str:
    """What is known of a delivery: `pending` or `sending` (not ended), `sent` (the
    target answered 2xx), `failed` (it did not, or never will be posted) or `unknown`
    (interrupted mid-send: it may have arrived)."""
    if status == "delivered":
        return "sent"
    if status == "failed" and last_error.startswith(UNKNOWN):
        return "unknown"
    return status


# `wecom_image*`: the report's poster as a WeCom robot image message (the `_masked`
# one hides money, for groups that see progress but not turnover).
FORMATS = ("wecom", "wecom_text", "wecom_image", "wecom_image_masked", "json")


class BadWebhook(ValueError):
    pass


def check_url(url: str, allow_private: bool) -> str:
    """http(s) only, no user:password; a host given as an address (in any form libc
    accepts: ::ffff:127.0.0.1, 2130706433, 0177.0.0.1) must be globally routable unless
    private targets are allowed. Names are checked by `check_target` and again at
    delivery, where the address actually connected to is the one checked."""
    if len(url) > 2000:
        raise BadWebhook("url is too long")
    try:
        # The parser of the client that will send, so both read the same host.
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BadWebhook(f"url is not valid: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise BadWebhook("url must be http(s)://host/...")
    if parts.userinfo:
        raise BadWebhook("url must not carry user:password@")
    if allow_private:
        return url
    host = parts.host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        raise BadWebhook("url must not point at this machine (loopback)")
    try:
        ip = literal_ip(host)
    except ValueError as exc:
        raise BadWebhook(str(exc)) from None
    if ip is not None and (why := refusal(ip)):
        raise BadWebhook(f"url must name a public address: {why}")
    return url


async def check_target(url: str, allow_private: bool, timeout_s: float = 5.0) -> str:
    """`check_url`, then resolve a host name and refuse it when any of its addresses
    is not globally routable. A name that does not resolve now is accepted: DNS may be
    down for a moment, and delivery checks again before every connection."""
    url = check_url(url, allow_private)
    if allow_private:
        return url
    parts = httpx.URL(url)
    if literal_ip(parts.host) is not None:
        return url
    try:
        ips = await resolve(parts.host, parts.port or 443, timeout_s)
    except (OSError, TimeoutError):
        return url
    for ip in ips:
        if why := refusal(ip):
            raise BadWebhook(
                f"url must name a public address: {parts.host} resolves to {ip}; {why}"
            )
    return url


# Any group id an event may carry (core/ingest/events.MAX_ID_LEN; the column's width).
MAX_GROUP_ID_LEN = MAX_ID_LEN


def check_group_id(value: object) -> str | None:
    """The group a robot lives in, as the events name it: None (no group: every report
    reaches it), or a string or integer id of 1..128 characters, kept exactly as given
    (it is matched against the group ids of a fire's assignment), without surrounding
    spaces and without control or bidi-override characters (it is shown in the
    console). HTML, emoji or right-to-left letters are kept as text: pages escape it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadWebhook("must be a string (or integer) group id, or null")
    text = str(value)
    if not 1 <= len(text) <= MAX_GROUP_ID_LEN:
        raise BadWebhook(f"must be 1..{MAX_GROUP_ID_LEN} characters, got {len(text)}")
    if text != text.strip():
        raise BadWebhook("must not start or end with spaces")
    if has_control(text):
        raise BadWebhook("must not contain control or bidi-override characters")
    return text


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return mac.hexdigest()


@dataclass(frozen=True)
class Job:
    delivery_id: int
    webhook_id: int
    url: str
    format: str
    secret: str
    attempts: int
    report_id: int
    kind: str
    text: str
    at_ms: int
    # The totals the report's text was written from (contract v2), for JSON targets.
    figures: dict[str, Any] | None = None
    campaign_id: int = 0
    memo: dict[str, Any] | None = None  # all that was stored with the report (posters)


class WebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self, campaign_id: int, url: str, fmt: str, secret: str, group_id: str | None = None
    ) -> int:
        """A new enabled target; `group_id` (as `check_group_id` passed it) is the
        group its robot lives in, or None."""
        t = WebhookRow.__table__
        with self.engine.begin() as conn:
            new_id: int = conn.execute(
                t.insert()
                .values(
                    campaign_id=campaign_id,
                    url=url,
                    format=fmt,
                    secret=secret,
                    group_id=group_id,
                )
                .returning(t.c.id)
            ).scalar_one()
            return new_id

    def list(self, campaign_id: int) -> list[WebhookTarget]:
        t = WebhookRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.campaign_id == campaign_id).order_by(t.c.id))
            return [WebhookTarget(**r._mapping) for r in rows]

    def due(
        self, now_ms: int, limit: int = 50, busy: builtins.list[int] | None = None
    ) -> builtins.list[Job]:
        """Due deliveries, oldest first, leaving out targets in `busy` (a worker is
        draining them already; their backlog must not crowd the others out)."""
        d, w, r = DeliveryRow.__table__, WebhookRow.__table__, ReportRow.__table__
        q = (
            select(
                d.c.id,
                w.c.id,
                w.c.url,
                w.c.format,
                w.c.secret,
                d.c.attempts,
                r.c.id,
                r.c.kind,
                r.c.text,
                r.c.at_ms,
                r.c.memo_json,
                w.c.campaign_id,
            )
            .join(w, w.c.id == d.c.webhook_id)
            .join(r, r.c.id == d.c.report_id)
            .where(d.c.status == "pending", d.c.next_at_ms <= now_ms)
            .order_by(d.c.id)
            .limit(limit)
        )
        if busy:
            q = q.where(d.c.webhook_id.not_in(busy))
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
        jobs = []
        for row in rows:
            memo = orjson.loads(row[10] or "{}")
            memo = memo if isinstance(memo, dict) else {}
            jobs.append(Job(*row[:10], figures=memo.get("figures"), campaign_id=row[11], memo=memo))
        return jobs

    def claim(self, delivery_id: int, now_ms: int) -> bool:
        """pending → sending, atomically: only one worker posts a given delivery."""
        t = DeliveryRow.__table__
        with self.engine.begin() as conn:
            res = conn.execute(
                update(t)
                .where(t.c.id == delivery_id, t.c.status == "pending")
                .values(status="sending", next_at_ms=now_ms)
            )
            return res.rowcount == 1

    def defer_many(self, delivery_ids: builtins.list[int], until_ms: int) -> None:
        if not delivery_ids:
            return
        t = DeliveryRow.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id.in_(delivery_ids), t.c.status == "pending")
                .values(next_at_ms=until_ms)
            )

    def release(self, delivery_id: int, until_ms: int) -> None:
        """sending → pending again, not posted (the target's pace is used up)."""
        t = DeliveryRow.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == delivery_id, t.c.status == "sending")
                .values(status="pending", next_at_ms=until_ms)
            )

    def finish(
        self,
        delivery_id: int,
        *,
        ok: bool,
        status: int | None,
        error: str,
        now_ms: int,
        retry_at_ms: int | None,
    ) -> None:
        t = DeliveryRow.__table__
        values: dict[str, Any] = {
            "attempts": t.c.attempts + 1,
            "last_status": status,
            "last_error": error[:500],
        }
        if ok:
            values.update(status="delivered", done_at_ms=now_ms)
        elif retry_at_ms is None:
            values.update(status="failed", done_at_ms=now_ms)
        else:
            values.update(status="pending", next_at_ms=retry_at_ms)
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == delivery_id).values(**values))

    def sweep_interrupted(self, older_than_ms: int, now_ms: int) -> int:
        """End the posts left `sending` since before `older_than_ms` (their worker
        died): outcome unknown, never retried (at most once)."""
        t = DeliveryRow.__table__
        with self.engine.begin() as conn:
            return conn.execute(
                update(t)
                .where(t.c.status == "sending", t.c.next_at_ms < older_than_ms)
                .values(
                    status="failed",
                    done_at_ms=now_ms,
                    last_error=INTERRUPTED,
                )
            ).rowcount

    def log(self, campaign_id: int) -> builtins.list[dict[str, Any]]:
        d, w = DeliveryRow.__table__, WebhookRow.__table__
        q = (
            select(d, w.c.url)
            .join(w, w.c.id == d.c.webhook_id)
            .where(w.c.campaign_id == campaign_id)
            .order_by(d.c.id)
        )
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "webhook_id": r.webhook_id,
                    "url": redact_url(r.url),
                    "report_id": r.report_id,
                    "status": r.status,
                    "outcome": outcome(r.status, r.last_error),
                    "attempts": r.attempts,
                    "last_status": r.last_status,
                    "last_error": r.last_error,
                }
                for r in conn.execute(q)
            ]
