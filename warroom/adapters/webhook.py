"""Outgoing webhooks: WeCom group robots and a generic signed JSON hook.

Each report is delivered at most once per target: a delivery row is unique per
(webhook, report), and a row is claimed (`sending`) before the POST. A worker that dies
mid-POST leaves it `sending`; the sweeper marks it failed rather than risk a second
post into a group chat."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from warroom.adapters.report_store import DeliveryRow, ReportRow, WebhookRow

MAX_ATTEMPTS = 6
FORMATS = ("wecom", "wecom_text", "json")


class BadWebhook(ValueError):
    pass


def _private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast


def check_url(url: str, allow_private: bool) -> str:
    """http(s) only; never loopback or link-local (cloud metadata) unless allowed."""
    if len(url) > 2000:
        raise BadWebhook("url is too long")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadWebhook("url must be http(s)://host/...")
    if allow_private:
        return url
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        raise BadWebhook("url must not point at this machine (loopback)")
    try:
        if _private(ipaddress.ip_address(host)):
            raise BadWebhook("url must not be loopback or link-local")
    except ValueError as exc:
        if isinstance(exc, BadWebhook):
            raise
    return url


def resolves_private(url: str) -> bool:
    """At send time: a name may resolve to loopback/link-local (DNS rebinding)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return any(_private(ipaddress.ip_address(i[4][0].split("%")[0])) for i in infos)


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


class WebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def add(self, campaign_id: int, url: str, fmt: str, secret: str) -> int:
        t = WebhookRow.__table__
        with self.engine.begin() as conn:
            return conn.execute(
                t.insert()
                .values(campaign_id=campaign_id, url=url, format=fmt, secret=secret)
                .returning(t.c.id)
            ).scalar_one()

    def list(self, campaign_id: int) -> list[Any]:
        t = WebhookRow.__table__
        with self.engine.connect() as conn:
            return list(conn.execute(select(t).where(t.c.campaign_id == campaign_id)))

    def enqueue(self, campaign_id: int, report_id: int) -> int:
        hooks = [h for h in self.list(campaign_id) if h.enabled]
        if not hooks:
            return 0
        t = DeliveryRow.__table__
        stmt = self._insert(t).on_conflict_do_nothing(index_elements=["webhook_id", "report_id"])
        with self.engine.begin() as conn:
            conn.execute(
                stmt, [{"webhook_id": h.id, "report_id": report_id, "next_at_ms": 0} for h in hooks]
            )
        return len(hooks)

    def due(self, now_ms: int, limit: int = 50) -> list[Job]:
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
            )
            .join(w, w.c.id == d.c.webhook_id)
            .join(r, r.c.id == d.c.report_id)
            .where(d.c.status == "pending", d.c.next_at_ms <= now_ms)
            .order_by(d.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Job(*row) for row in conn.execute(q)]

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

    def defer(self, delivery_id: int, until_ms: int) -> None:
        t = DeliveryRow.__table__
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == delivery_id).values(next_at_ms=until_ms))

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
        t = DeliveryRow.__table__
        with self.engine.begin() as conn:
            return conn.execute(
                update(t)
                .where(t.c.status == "sending", t.c.next_at_ms < older_than_ms)
                .values(
                    status="failed",
                    done_at_ms=now_ms,
                    last_error="interrupted mid-send; not retried to avoid a duplicate post",
                )
            ).rowcount

    def log(self, campaign_id: int) -> list[dict[str, Any]]:
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
                    "url": r.url,
                    "report_id": r.report_id,
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_status": r.last_status,
                    "last_error": r.last_error,
                }
                for r in conn.execute(q)
            ]
