"""The engineers' page (工程, issue 20): for operators and owners, the figures a
Prometheus would show, live, for a team that has none.

Per live campaign: events per second by outcome, events not yet applied, how far the
settled figures trail the campaign clock, viewers, webhook deliveries waiting, and
whether the figures are being restored; for the deployment: Redis and the database up
or down; for this process: the last restore, webhook deliveries by outcome, requests
refused by a limit.

Two sources, said on the page. Counters and gauges (events, viewers, deliveries,
refusals, restores) are this web process's own metrics (`exposition.own_metrics`:
under `warroom serve` every child's too), read once per look; events per second are
the rate between such readings, kept in memory per app (`core/rates.RateWindow`). The
rest is a vitals reading (`services/vitals.py`, read from Redis and SQL, cached 1 s),
the same for every process. No token appears anywhere: campaigns by name and slug only.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from warroom.adapters.metrics.catalogue import ACCEPTED, DUPLICATE, REJECTED
from warroom.adapters.metrics.exposition import own_metrics
from warroom.core.ingest.clock import from_ms
from warroom.core.people import ROLE_LABELS, Actor, allows
from warroom.core.rates import Rates, RateWindow
from warroom.services.vitals import DATABASE, REDIS, Reading
from warroom.web import deps
from warroom.web.console import auth
from warroom.web.console.auth import ConsoleSession, Session
from warroom.web.console.base import page, router

CONSOLE_TZ = "Asia/Shanghai"
OUTCOMES = (ACCEPTED, DUPLICATE, REJECTED)
RATE_WINDOW_S = 10.0
LAG_WARN_S = 10.0  # amber above
LAG_BAD_S = 60.0  # red above

# What the page says (change the words here; the template keeps only the layout).
LABELS = {
    "title": "工程",
    "heading": "工程 · 运行指标",
    "lead": "每 2 秒刷新：各进行中活动的事件速率、积压与结算延迟、观看人数、推送队列，以及依赖与恢复状态。",
    "note": (
        "计数类数字（每秒事件、观看人数、推送、拒绝、最近恢复）来自此 Web 进程"
        "（`warroom serve` 下含其 worker），积压、结算延迟、推送队列和依赖状态读自"
        " Redis 与数据库；多进程部署请用 Prometheus 汇总。"
    ),
    "dependencies": "依赖",
    "up": "正常",
    "down": "不可用",
    "campaigns": "进行中的活动",
    "campaign": "活动",
    "events_per_s": f"事件/秒（近 {RATE_WINDOW_S:.0f} 秒）",
    "pending": "待处理事件",
    "lag": "结算延迟",
    "viewers": "观看",
    "queued": "推送队列",
    "restoring": "恢复中",
    "no_campaigns": "现在没有进行中的活动。",
    "no_database": "数据库不可用，无法列出活动。",
    "process": "本进程",
    "last_restore": "最近一次恢复",
    "never": "无",
    "restores": "恢复次数",
    "deliveries": "推送投递（自进程启动）",
    "refused": "因限额拒绝（自进程启动）",
    "updated": "更新于",
    "all": "合计",
    "unknown": "—",
    "first_look": "速率需要两次读数，2 秒后显示",
}
OUTCOME_LABELS = {ACCEPTED: "接受", DUPLICATE: "重复", REJECTED: "拒绝"}
DEPENDENCY_LABELS = {REDIS: "Redis", DATABASE: "数据库"}
DELIVERY_OUTCOME_LABELS = {"delivered": "已送达", "retry": "将重试", "failed": "失败"}
RESTORE_LABELS = {"lost": "数据丢失后恢复", "rebuild": "重建"}
LIMIT_LABELS = {
    "body_bytes": "请求体过大",
    "events_per_request": "单次事件过多",
    "pending_events": "待处理事件过多",
    "login_throttle": "登录限流",
    "sockets_per_address": "同一地址连接过多",
    "replays": "复盘并发已满",
    "read_timeout": "读取超时",
    "header_bytes": "请求头过大",
    "concurrency": "并发已满",
    "import_bytes": "导入文件过大",
}

# The metric samples the page reads (one pass over the registry per look).
EVENTS_TOTAL = "warroom_events_total"
VIEWERS = "warroom_viewers"
DELIVERIES_TOTAL = "warroom_webhook_deliveries_total"
REFUSED_TOTAL = "warroom_refused_total"
RESTORES_TOTAL = "warroom_restores_total"
LAST_RESTORE = "warroom_last_restore_timestamp_seconds"
READ = {EVENTS_TOTAL, VIEWERS, DELIVERIES_TOTAL, REFUSED_TOTAL, RESTORES_TOTAL, LAST_RESTORE}

Samples = dict[str, list[tuple[dict[str, str], float]]]


# -- who may look ------------------------------------------------------------------------


class EngineersRefused(auth.RoleRefused):
    """An analyst: a 403 page (the console's RoleRefused handler) that says why."""

    def __init__(self, actor: Actor) -> None:
        super().__init__(actor, "operator")

    @property
    def message(self) -> str:
        have = ROLE_LABELS.get(self.actor.role, self.actor.role)
        return f"你的角色（{have}）不能查看工程页，需要运营或所有者。"


async def operator_page(session: ConsoleSession) -> Session:
    """A console page for operators and owners (reads that are not every role's)."""
    if not allows(session.actor.role, "operator"):
        raise EngineersRefused(session.actor)
    return session


# Named for the route-table test (tests/e2e/test_roles.py reads auth.ROLE_DEPS).
auth.ROLE_DEPS[operator_page] = "operator"
OperatorPage = Annotated[Session, Depends(operator_page)]


# -- reading ------------------------------------------------------------------------------


def read_samples(names: Iterable[str] = READ) -> Samples:
    """The wanted samples of this process's metrics (under `serve`, every process's)."""
    wanted = set(names)
    out: Samples = {n: [] for n in wanted}
    for family in own_metrics().collect():
        for s in family.samples:
            if s.name in wanted:
                out[s.name].append((s.labels, s.value))
    return out


def summed(
    samples: Iterable[tuple[dict[str, str], float]], *by: str
) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for labels, value in samples:
        key = tuple(labels.get(b, "") for b in by)
        out[key] = out.get(key, 0.0) + value
    return out


def window_of(request: Request) -> RateWindow[tuple[str, ...]]:
    state = request.app.state
    window: RateWindow[tuple[str, ...]] | None = getattr(state, "engineers_rates", None)
    if window is None:
        window = RateWindow(window_s=RATE_WINDOW_S)
        state.engineers_rates = window
    return window


# -- what the page shows ------------------------------------------------------------------


def with_code(text: str) -> Markup:
    """A label with `backquoted` words shown as code (the text is escaped first)."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def shown_rate(per_s: float | None) -> str:
    if per_s is None:
        return LABELS["unknown"]
    if per_s == 0:
        return "0"
    if per_s < 10:
        return f"{per_s:.1f}"
    return f"{round(per_s):,}"


def lag_level(lag_s: float | None) -> str:
    """ok, warn (amber, above 10 s), bad (red, above 60 s) or unknown."""
    if lag_s is None:
        return "unknown"
    if lag_s > LAG_BAD_S:
        return "bad"
    if lag_s > LAG_WARN_S:
        return "warn"
    return "ok"


def shown_lag(lag_s: float | None) -> str:
    if lag_s is None:
        return LABELS["unknown"]
    if lag_s < 10:
        return f"{lag_s:.1f} 秒"
    if lag_s < 120:
        return f"{round(lag_s)} 秒"
    return f"{lag_s / 60:.1f} 分钟"


def shown_when(unix_s: float, now_s: float) -> str:
    if unix_s <= 0:
        return LABELS["never"]
    at = from_ms(int(unix_s * 1000), CONSOLE_TZ).strftime("%m-%d %H:%M:%S")
    ago = max(0, int(now_s - unix_s))
    if ago < 60:
        rel = f"{ago} 秒前"
    elif ago < 3600:
        rel = f"{ago // 60} 分钟前"
    else:
        rel = f"{ago // 3600} 小时前"
    return f"{at}（{rel}）"


def counts(totals: dict[tuple[str, ...], float], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Non-zero totals by one label, in the labels' order, then any other, biggest first."""
    order = {k: i for i, k in enumerate(labels)}
    rows = [
        {"key": k[0], "label": labels.get(k[0], k[0]), "n": int(v)} for k, v in totals.items() if v
    ]
    return sorted(rows, key=lambda r: (order.get(r["key"], len(order)), -r["n"]))


def live_context(
    reading: Reading, samples: Samples, rates: Rates[tuple[str, ...]]
) -> dict[str, Any]:
    viewers = summed(samples[VIEWERS], "campaign")
    campaigns = []
    for c in reading.campaigns:
        per_s = {o: rates.of((c.slug, o)) for o in OUTCOMES}
        campaigns.append(
            {
                "slug": c.slug,
                "name": c.name,
                "rates": [
                    {"outcome": o, "label": OUTCOME_LABELS[o], "per_s": v, "shown": shown_rate(v)}
                    for o, v in per_s.items()
                ],
                "pending": c.pending_events,
                "lag_s": c.settled_lag_s,
                "lag": shown_lag(c.settled_lag_s),
                "lag_level": lag_level(c.settled_lag_s),
                "viewers": int(viewers.get((c.slug,), 0)),
                "queued": c.queued_deliveries,
                "restoring": c.restoring,
            }
        )
    all_per_s = {
        o: sum(rates.per_s.get(k, 0.0) for k in rates.per_s if k[1] == o) for o in OUTCOMES
    }
    now_s = reading.at_ms / 1000
    last_restore = max((v for _, v in samples[LAST_RESTORE]), default=0.0)
    return {
        "L": LABELS,
        "note": with_code(LABELS["note"]),
        "window_s": int(RATE_WINDOW_S),
        "dependencies": [
            {"key": k, "label": DEPENDENCY_LABELS.get(k, k), "up": up}
            for k, up in sorted(reading.dependencies.items(), key=lambda kv: kv[0] != REDIS)
        ],
        "database_down": not reading.dependencies.get(DATABASE, True),
        "campaigns": campaigns,
        "outcome_labels": OUTCOME_LABELS,
        "all_rates": [
            {
                "outcome": o,
                "label": OUTCOME_LABELS[o],
                "shown": shown_rate(all_per_s[o] if rates.span_s > 0 else None),
            }
            for o in OUTCOMES
        ],
        "measured": rates.span_s > 0,
        "last_restore": shown_when(last_restore, now_s),
        "restores": counts(summed(samples[RESTORES_TOTAL], "reason"), RESTORE_LABELS),
        "deliveries": counts(summed(samples[DELIVERIES_TOTAL], "outcome"), DELIVERY_OUTCOME_LABELS),
        "refused": counts(summed(samples[REFUSED_TOTAL], "limit"), LIMIT_LABELS),
        "updated": from_ms(reading.at_ms, CONSOLE_TZ).strftime("%H:%M:%S"),
    }


async def engineers_context(request: Request) -> dict[str, Any]:
    reading = await deps.runtime(request).vitals.read()
    samples = await asyncio.to_thread(read_samples)
    events = summed(samples[EVENTS_TOTAL], "campaign", "outcome")
    rates = window_of(request).observe(time.monotonic(), events)
    return live_context(reading, samples, rates)


@router.get("/admin/engineers", response_class=HTMLResponse)
async def engineers_page(request: Request, session: OperatorPage) -> HTMLResponse:
    ctx = await engineers_context(request)
    return page(request, session, "admin/engineers.html", {**ctx, "tab_engineers": True})


@router.get("/admin/engineers/live", response_class=HTMLResponse)
async def engineers_live(request: Request, session: OperatorPage) -> HTMLResponse:
    """htmx, every 2 s: the figures (reads only)."""
    return page(request, session, "admin/_engineers_live.html", await engineers_context(request))
