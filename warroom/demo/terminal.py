"""What the demo prints in the terminal: the live figures, each 战报 and stimulus, the
simulator's lifts and the product's effect of each, in the screens' words (the kind
names and emoji of core/reports, counts with thousands separators, money in 万)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from warroom.adapters.clock import real_now_ms
from warroom.core.ingest.clock import parse_instant, rfc3339
from warroom.core.ingest.money import format_wan
from warroom.core.reports.context import ACTION_EMOJI, ACTION_TITLES, percent
from warroom.core.reports.effect import Effect, effect_line
from warroom.core.reports.schedule import KIND_LABELS
from warroom.core.words import ENDED
from warroom.demo_campaign import TZ, DemoCampaign
from warroom.simulator import MIN, Lift

# Terminal escapes hidden in a chat name must not reach the operator's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MEDALS = "🥇🥈🥉"


def clean(text: str) -> str:
    return _CONTROL.sub("", text)


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def ended(snap: dict[str, Any]) -> bool:
    c = snap["campaign"]
    return bool(c.get("ends_at")) and parse_instant(c["now"]) >= parse_instant(c["ends_at"])


def figures_line(snap: dict[str, Any]) -> str:
    """One terminal line of the headline figures, stamped with the campaign's time; once
    the sale has ended, stamped with its end and without a speed (there is none)."""
    c, t, v = snap["campaign"], snap["totals"], snap["velocity"]
    over = ended(snap)
    stamp = (c["ends_at"] if over else c["now"])[11:16]
    top = "  ".join(
        f"{MEDALS[i]}{clean(row['name'])} {format_wan(row['net_gmv_fen'])}"
        for i, row in enumerate(snap["leaderboards"]["sellers"][:3])
    )
    parts = [
        f"[{stamp}] 成交 {format_wan(t['gmv_fen'])} (目标 {percent(snap['target']['progress_base'])})",
        f"订单 {t['orders']:,}",
        f"买家 {t['buyers']:,}",
        "" if over else f"速度 {format_wan(v['gmv_per_min_fen'])}/分",
        top,
    ]
    return " | ".join(p for p in parts if p)


def report_line(report: dict[str, Any]) -> str:
    """A 战报 as the terminal prints it, headed by its kind's Chinese name."""
    label = KIND_LABELS.get(report["kind"], "战报")
    return f"\n📣 战报 · {label}\n{clean(report['text'])}\n"


def stimulus_line(s: dict[str, Any]) -> str:
    """A fire: the emoji and title of its kind (🧧 only for a red-packet rain)."""
    kind = str(s.get("kind") or "")
    head = f"{ACTION_EMOJI.get(kind, '📢')} {ACTION_TITLES.get(kind, '福利')}"
    amount = f"（{format_wan(s['amount_fen'])}）" if s.get("amount_fen") else ""
    text = clean(str(s.get("text") or ""))
    return f"{head}：{text}{amount}" if text else f"{head}{amount}"


def lift_line(lift: Lift) -> str:
    """The terminal line when the simulator sees a fire: what it puts in."""
    f = lift.fire
    groups = f"处理组 {lift.treated_groups:,} 个" + (
        f"、对照组 {lift.holdout_groups:,} 个（不加）" if lift.holdout_groups else "（全部群）"
    )
    return (
        f"🧪 模拟器：「{clean(f.rule)}」{rfc3339(f.at_ms, TZ)[11:16]} 起 {f.effect_minutes} 分钟，"
        f"{groups}订单各 "
        f"+{lift.share:.0%}：注入 {len(lift.orders):,} 单 {format_wan(lift.injected_fen)}"
        f"（预期增量 {format_wan(lift.expected_fen)}）"
    )


def effect_check_line(effect: dict[str, Any], lift: Lift) -> str:
    """The product's effect of a fire (the one line every page prints, effect_line)
    against what the simulator put in."""
    try:
        lo, hi = (int(v) for v in effect["ci90_fen"])
        e = Effect(
            method=effect["method"],
            treated_groups=int(effect["treated_groups"]),
            holdout_groups=int(effect["holdout_groups"]),
            incremental_gmv_fen=int(effect["incremental_gmv_fen"]),
            ci90_fen=(lo, hi),
            roi=effect.get("roi"),
            roi_ci90=tuple(effect["roi_ci90"]) if effect.get("roi_ci90") else None,
        )
    except (KeyError, TypeError, ValueError):
        return f"📐 效果「{clean(lift.fire.rule)}」：{clean(str(effect))[:200]}"
    covered = lo <= lift.injected_fen <= hi
    verdict = "✅ 区间覆盖" if covered else "❌ 区间未覆盖"
    return (
        f"📐 效果「{clean(lift.fire.rule)}」：{effect_line(e)} · "
        f"模拟器注入 {format_wan(lift.injected_fen)}：{verdict}"
    )


async def report(
    client: httpx.AsyncClient, c: DemoCampaign, stop: asyncio.Event, every_s: float
) -> None:
    """Figures every few seconds while the sale runs; every new battle report and
    stimulus in full; after the close, keep serving quietly until Ctrl-C."""
    path = f"/api/v1/campaigns/{c.slug}/snapshot"
    headers = {"Authorization": f"Bearer {c.viewer_token}"}
    seen_reports: set[int] = set()
    seen_fires: set[int] = set()
    last_line, closed = 0.0, False
    while not stop.is_set():
        try:
            res = await client.get(path, headers=headers)
            res.raise_for_status()
            snap = res.json()
        except httpx.HTTPError as exc:
            print(f"（读取快照失败：{exc}）", flush=True)
            await asyncio.sleep(every_s)
            continue
        for r in snap["reports"]:
            if r["id"] not in seen_reports:
                seen_reports.add(r["id"])
                print(report_line(r), flush=True)
                if r["kind"] == "final":
                    # the settled figures, read after the final was written: the same
                    print("🏁 收官数据", figures_line(snap), flush=True)
        for s in snap["stimuli"]:
            if s["id"] not in seen_fires and s.get("status", "fired") == "fired":
                seen_fires.add(s["id"])
                print(stimulus_line(s), flush=True)
        if not closed and loop_time() - last_line >= every_s:
            last_line = loop_time()
            print(figures_line(snap), flush=True)
        if not closed and c.clock.now_ms(real_now_ms()) >= c.ends_at_ms + 2 * MIN:
            closed = True
            print(
                figures_line(snap), f"\n🏁 活动{ENDED}；服务继续运行，按 Ctrl-C 退出。", flush=True
            )
        await asyncio.sleep(1.0)
