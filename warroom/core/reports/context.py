"""The figures a battle-report template may show, built only from a snapshot.

Every value here is true or absent: a part that cannot be computed from the snapshot
(no target set, no previous report, no stimulus yet) is None or empty, never a guess,
and the default templates leave its line out. Values are already formatted (money in
万 via `format_wan`, times as HH:MM in the campaign zone, percentages with one decimal),
so templates only place them.

Names (sellers, groups, products) are values, never template source: they print as
they are, with two exceptions that keep a report's shape. A line break inside a name
becomes a space (a name cannot add lines to a report), and a name holding bidi
controls (e.g. U+202E) is wrapped in an invisible isolate (U+2068 … U+2069) so its
reversal cannot spill over the figures after it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from warroom.core.ingest.clock import MINUTE_MS, from_ms
from warroom.core.ingest.money import format_wan
from warroom.core.live.shapes import (
    BoardRow,
    FiguresView,
    MinuteRow,
    Snapshot,
    StimulusItem,
)
from warroom.core.reports.effect_view import effect_of, effect_text
from warroom.core.reports.memo import memo_of as _memo_of
from warroom.core.reports.memo import report_memo as report_memo  # re-exported
from warroom.core.reports.memo import signed, signed_wan
from warroom.core.reports.shapes import (
    BestStimulus,
    BoardLine,
    Climber,
    Delta,
    PeakMinute,
    ReportContext,
    ReportExtra,
    StimulusLine,
    TimelineMark,
)
from warroom.core.words import MARK_LABELS, REACHED

MEDALS = ("🥇", "🥈", "🥉", "4️⃣", "5️⃣")
ACTION_TITLES = {"red_packet_rain": "红包雨", "buy_n_gift": "买赠福利", "announcement": "重磅通知"}
ACTION_EMOJI = {"red_packet_rain": "🧧", "buy_n_gift": "🎁", "announcement": "📢"}
THANKS_FALLBACK = "各位团长和家人们"

_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x85\u2028\u2029]+")
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Every name a template may use; `validate_template` refuses any other.
CONTEXT_KEYS = frozenset(
    {
        "kind", "campaign_name", "now_time", "start_time", "end_time", "elapsed", "remaining",
        "gmv", "net_gmv", "refund", "has_refund", "orders", "item_count", "buyers", "aov",
        "members", "messages", "conversion",
        "has_base", "has_stretch", "target_base", "target_stretch", "progress_base",
        "progress_stretch", "gap_base", "gap_stretch", "base_reached", "stretch_reached",
        "projected", "base_eta", "stretch_eta", "next_milestone", "next_milestone_eta",
        "as_of",
        "speed", "orders_per_min", "peak_speed",
        "top3", "top5", "groups", "products", "top_group", "top_product", "climber",
        "thanks", "honour",
        "window", "delta", "milestone", "target", "slot", "hour_index",
        "stimulus", "next_stimulus", "peak_minute", "timeline", "best_stimulus", "record",
        "raw",
    }
)  # fmt: skip


def display_name(name: str) -> str:
    one_line = _LINE_BREAKS.sub(" ", name)
    if _BIDI_CONTROLS.search(one_line):
        return "\u2068" + one_line + "\u2069"
    return one_line


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _hm(text: str) -> str:
    return _instant(text).strftime("%H:%M")


def _hm_if(text: str | None) -> str | None:
    return _hm(text) if text else None


def _ms(text: str) -> int:
    return int(_instant(text).timestamp() * 1000)


def duration_text(ms: int) -> str:
    """1小时5分钟 / 45分钟 / 2小时 (whole minutes, never negative)."""
    hours, mins = divmod(max(0, ms) // MINUTE_MS, 60)
    if hours and mins:
        return f"{hours}小时{mins}分钟"
    return f"{hours}小时" if hours else f"{mins}分钟"


NO_FIGURE = "—"  # a figure that cannot be known (the screens' vocab.NONE is this one)


def percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def _move(before: int | None, rank: int) -> str:
    if before is None:
        return "🆕"
    if before > rank:
        return f"▲{before - rank}"
    return f"▼{rank - before}" if before < rank else ""


def board_rows(
    entries: Sequence[BoardRow], prev_ranks: Mapping[str, int] | None, n: int
) -> list[BoardLine]:
    """Top `n` rows with medals and rank moves: against the previous report's ranks when
    given, else against the snapshot's own `prev_rank` (the ranking a few minutes ago)."""
    rows: list[BoardLine] = []
    for e in entries[:n]:
        before = prev_ranks.get(e["id"]) if prev_ranks is not None else e.get("prev_rank")
        rank = e["rank"]
        rows.append(
            {
                "rank": rank,
                "medal": MEDALS[rank - 1] if rank <= len(MEDALS) else f"{rank}.",
                "name": display_name(e["name"]),
                "gmv": format_wan(e["net_gmv_fen"]),
                "orders": e["orders"],
                "move": _move(before, rank),
                "climb": 0 if before is None else before - rank,
            }
        )
    return rows


def _climber(rows: Sequence[BoardLine]) -> Climber | None:
    up = [r for r in rows if r["climb"] > 0]
    if not up:
        return None
    best = max(up, key=lambda r: (r["climb"], -r["rank"]))
    return {"name": best["name"], "rank": best["rank"], "move": best["move"]}


def _names(rows: Sequence[BoardLine]) -> str:
    return "、".join(r["name"] for r in rows)


def _peak_minute(rows: Sequence[MinuteRow]) -> PeakMinute | None:
    best = max(rows, key=lambda r: r["gmv_fen"], default=None)  # first of equals wins
    if best is None or best["gmv_fen"] <= 0:
        return None
    return {
        "time": _hm(best["minute"]),
        "gmv": format_wan(best["gmv_fen"]),
        "orders": best["orders"],
    }


_REACHED: tuple[tuple[Literal["base_reached_at", "stretch_reached_at"], str], ...] = (
    ("base_reached_at", MARK_LABELS["base"] + REACHED),
    ("stretch_reached_at", MARK_LABELS["stretch"] + REACHED),
)
# The report's own figures replace these totals (`figures`).
_FIGURE_KEYS: tuple[Literal["gmv_fen", "refund_fen", "net_gmv_fen", "orders", "buyers"], ...] = (
    "gmv_fen",
    "refund_fen",
    "net_gmv_fen",
    "orders",
    "buyers",
)


def _timeline(snapshot: Snapshot, milestones_fen: Sequence[int]) -> list[TimelineMark]:
    """When each milestone fell (the minute cumulative paid GMV reached it) and the
    targets. A milestone equal to a target is the target's moment: listed once, as the
    target (the same rule that gives it one post)."""
    target = snapshot["target"]
    targets = {target.get("base_fen") or 0, target.get("stretch_fen") or 0} - {0}
    marks: list[tuple[str, str]] = []
    todo = sorted(m for m in milestones_fen if m > 0 and m not in targets)
    running = 0
    for row in snapshot["per_minute"]:
        running += row["gmv_fen"]
        while todo and running >= todo[0]:
            marks.append((row["minute"], f"破{format_wan(todo.pop(0))}"))
    for key, label in _REACHED:
        if key == "stretch_reached_at" and target.get("stretch_fen") == target.get("base_fen"):
            continue  # one target, one moment
        at = target.get(key)
        if at:
            marks.append((at, label))
    marks.sort(key=lambda m: _ms(m[0]))
    return [{"time": _hm(at), "label": label} for at, label in marks]


def _fired(s: StimulusItem) -> bool:
    return s.get("status", "fired") == "fired"  # a proposal never happened


def _best_stimulus(stimuli: Sequence[StimulusItem]) -> BestStimulus | None:
    """The final's stimulus line: the fired stimulus whose effect is most surely
    positive (the highest lower end of its 90% interval), with that effect and its
    interval (core/reports/effect_view.effect_text, never a point alone); while no
    fire's effect is known, the latest fire, its effect pending. `uplift` (the old
    velocity ratio) stays for templates written against it; the default no longer
    prints it."""
    fired = [s for s in stimuli if _fired(s)]
    if not fired:
        return None
    known = [(e, s) for s in fired if (e := effect_of(s.get("effect"))) is not None]
    if known:
        best = max(known, key=lambda p: (p[0].ci90_fen[0], p[0].incremental_gmv_fen))[1]
    else:
        best = max(fired, key=lambda s: _ms(s["at"]))
    u = best.get("uplift")
    return {
        "title": ACTION_TITLES.get(best.get("kind", ""), "刺激动作"),
        "emoji": ACTION_EMOJI.get(best.get("kind", ""), "📢"),  # 🧧 only for a red-packet rain
        "rule": display_name(str(best.get("rule", ""))),
        "time": _hm(best["at"]),
        "effect": effect_text(best.get("effect")),
        "count": len(fired),
        "uplift": f"{u:.1f}" if isinstance(u, int | float) else "—",
    }


def _wan_of(extra: ReportExtra, key: Literal["milestone_fen", "target_fen"]) -> str | None:
    return format_wan(extra[key]) if key in extra else None


def _stimulus(extra: ReportExtra) -> StimulusLine | None:
    if "action_kind" not in extra:
        return None
    kind = extra["action_kind"]
    amount = extra.get("amount_fen", 0)
    return {
        "title": ACTION_TITLES.get(kind, "福利"),
        "emoji": ACTION_EMOJI.get(kind, "🎉"),
        "rule": display_name(str(extra.get("rule", ""))),
        "amount": format_wan(amount) if amount else None,
        "text": str(extra.get("text", "")),
    }


def report_context(
    snapshot: Snapshot,
    kind: str,
    extra: ReportExtra | None = None,
    previous: Mapping[str, Any] | None = None,
    figures: FiguresView | None = None,
) -> ReportContext:
    """Everything a report template may show (see CONTEXT_KEYS), from true figures only.

    `snapshot` describes the report's moment (the trigger builds it as of `as_of`).
    `figures` ({as_of, gmv_fen, refund_fen, net_gmv_fen, orders, buyers}) are the
    report's own totals: every money, order and buyer figure of the text comes from
    them, so the text cannot say something else (without them, the snapshot totals).
    `extra` is `DueReport.extra` (milestone_fen, target_fen, slot, hour_index, the
    stimulus fields), optionally with `at_ms` (the moment the report names, e.g. the
    minute a milestone fell; default: the snapshot's now), `next_stimulus` {at_ms,
    text} announced by the operator, `milestones_fen` for the final's timeline and
    `record_fen` (the best previous total; the final claims a record only above it).
    `previous` is the memo of the last report of the same kind (`context["raw"]`), its
    context, or its snapshot."""
    extra = extra or {}
    c, g = snapshot["campaign"], snapshot["target"]
    v, boards = snapshot["velocity"], snapshot["leaderboards"]
    t = snapshot["totals"].copy()
    if figures is not None:
        for k in _FIGURE_KEYS:
            t[k] = figures[k]
        b = t["buyers"]
        t["aov_fen"] = (t["net_gmv_fen"] * 2 + b) // (2 * b) if b else 0
        m = t.get("members", 0)
        t["conversion_rate"] = round(b / m, 6) if m else 0.0
    tz = c["timezone"]
    moment_ms = extra.get("at_ms", _ms(c["now"]))
    moment = from_ms(moment_ms, tz).strftime("%H:%M")
    prev = _memo_of(previous)
    prev_ranks = prev.get("seller_ranks") if prev is not None else None
    gmv, base, stretch = t["gmv_fen"], g["base_fen"], g["stretch_fen"]

    top5 = board_rows(boards["sellers"], prev_ranks, 5)
    groups = board_rows(boards["groups"], None, 5)
    products = board_rows(boards["products"], None, 5)
    delta: Delta | None = None
    if prev is not None:
        delta = {
            "gmv": signed_wan(gmv - prev["gmv_fen"]),
            "orders": signed(t["orders"] - prev["orders"]),
            "buyers": signed(t["buyers"] - prev["buyers"]),
            "since": _hm(prev["at"]),
        }
    nxt = extra.get("next_stimulus")
    projected = g.get("projected_fen")
    next_ms = g.get("next_milestone_fen")
    return {
        "kind": kind,
        "campaign_name": c["name"],
        "now_time": moment,
        "as_of": _hm(figures["as_of"]) if figures is not None else moment,
        "start_time": _hm(c["starts_at"]),
        "end_time": _hm(c["ends_at"]),
        "elapsed": duration_text(moment_ms - _ms(c["starts_at"])),
        "remaining": duration_text(_ms(c["ends_at"]) - moment_ms),
        "gmv": format_wan(gmv),
        "net_gmv": format_wan(t["net_gmv_fen"]),
        "refund": format_wan(t["refund_fen"]),
        "has_refund": t["refund_fen"] > 0,
        "orders": t["orders"],
        "item_count": t["items"],
        "buyers": t["buyers"],
        "aov": format_wan(t["aov_fen"]),
        "members": t["members"],
        "messages": t["messages"],
        # of the members: unknown (not 0.0%) while no member events came
        "conversion": percent(t["conversion_rate"]) if t.get("members") else NO_FIGURE,
        "has_base": base > 0,
        "has_stretch": stretch > 0 and stretch != base,
        "target_base": format_wan(base),
        "target_stretch": format_wan(stretch),
        "progress_base": percent(gmv / base if base else 0.0),
        "progress_stretch": percent(gmv / stretch if stretch else 0.0),
        "gap_base": format_wan(base - gmv) if base > gmv else None,
        "gap_stretch": format_wan(stretch - gmv) if stretch > gmv else None,
        "base_reached": base > 0 and gmv >= base,
        "stretch_reached": stretch > 0 and gmv >= stretch,
        "projected": format_wan(projected) if projected is not None else None,
        "base_eta": _hm_if(g.get("base_eta_at")),
        "stretch_eta": _hm_if(g.get("stretch_eta_at")),
        "next_milestone": format_wan(next_ms) if next_ms else None,
        "next_milestone_eta": _hm_if(g.get("next_milestone_eta_at")),
        "speed": format_wan(v["gmv_per_min_fen"]),
        "orders_per_min": v["orders_per_min"],
        "peak_speed": format_wan(v["peak_gmv_per_min_fen"]),
        "top3": top5[:3],
        "top5": top5,
        "groups": groups,
        "products": products,
        "top_group": groups[0] if groups else None,
        "top_product": products[0] if products else None,
        "climber": _climber(top5),
        "thanks": _names(top5[:3]) or THANKS_FALLBACK,
        "honour": {
            "sellers": _names(top5[:3]),
            "groups": _names(groups[:3]),
            "products": _names(products[:3]),
        },
        "window": f"{_hm(prev['at']) if prev is not None else _hm(c['starts_at'])}–{moment}",
        "delta": delta,
        "milestone": _wan_of(extra, "milestone_fen"),
        "target": _wan_of(extra, "target_fen"),
        "slot": extra.get("slot"),
        "hour_index": extra.get("hour_index"),
        "stimulus": _stimulus(extra),
        "next_stimulus": (
            {"time": from_ms(nxt["at_ms"], tz).strftime("%H:%M"), "text": str(nxt["text"])}
            if nxt
            else None
        ),
        "peak_minute": _peak_minute(snapshot["per_minute"]),
        "timeline": _timeline(snapshot, extra.get("milestones_fen", ())),
        "best_stimulus": _best_stimulus(snapshot.get("stimuli", [])),
        "record": "record_fen" in extra and gmv > extra["record_fen"],
        "raw": report_memo(snapshot, figures),
    }
