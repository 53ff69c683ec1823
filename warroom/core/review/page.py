"""What the retrospective template prints: the review model plus display strings and
the chart's data (money stays integer fen; the chart script scales it)."""

from __future__ import annotations

from typing import Any

from warroom.core.ingest.clock import from_ms, rfc3339
from warroom.core.reports.context import ACTION_TITLES, duration_text
from warroom.core.review.shapes import Review

TABLE_LABELS = {
    "minutes": "每分钟",
    "sellers": "团长",
    "groups": "社群",
    "products": "商品",
    "stimuli": "刺激动作",
    "reports": "战报",
    "events": "全部事件",
}
BOARD_LABELS = {"sellers": "团长", "groups": "社群", "products": "商品"}
EVENT_LABELS = {"order": "订单", "refund": "退款", "message": "消息", "member": "进退群"}


def hm(ms: int | None, tz: str) -> str:
    return from_ms(ms, tz).strftime("%H:%M") if ms is not None else "—"


def hms(ms: int | None, tz: str) -> str:
    return from_ms(ms, tz).strftime("%H:%M:%S") if ms is not None else "—"


def chart_data(review: Review, tz: str) -> dict[str, Any]:
    c = review["campaign"]
    minutes = review["minutes"]
    marks: list[dict[str, Any]] = []
    for m in review["milestones"]:
        if m["crossed_ms"] is not None:
            marks.append({"x": rfc3339(m["crossed_ms"], tz), "kind": "milestone",
                          "label": m["label"], "fen": m["fen"]})  # fmt: skip
    for s in review["stimuli"]:
        marks.append({"x": rfc3339(s["at_ms"], tz), "kind": "stimulus",
                      "label": ACTION_TITLES.get(s["kind"], s["kind"]), "fen": s["amount_fen"]})  # fmt: skip
    return {
        "x": [r["minute"] for r in minutes],
        "gmv_fen": [r["gmv_fen"] for r in minutes],
        "cum_fen": [r["cumulative_gmv_fen"] for r in minutes],
        "joins": [r["joins"] for r in minutes],
        "leaves": [r["leaves"] for r in minutes],
        "start": rfc3339(c["starts_ms"], tz),
        "end": rfc3339(c["ends_ms"], tz),
        "base_fen": c["target_base_fen"],
        "stretch_fen": c["target_stretch_fen"],
        "marks": marks,
    }


# The page's template context: open on purpose (Jinja reads it; it holds helpers).
def page_context(review: Review, tz: str) -> dict[str, Any]:
    c = review["campaign"]
    peak10 = review["peak_10"]
    return {
        "r": review,
        "c": c,
        "t": review["totals"],
        "tz": tz,
        "chart": chart_data(review, tz),
        "start_text": from_ms(c["starts_ms"], tz).strftime("%Y-%m-%d %H:%M"),
        "end_text": hm(c["ends_ms"], tz),
        "duration": duration_text(c["ends_ms"] - c["starts_ms"]),
        "peak_minute_text": hm(review["peak_minute"]["at_ms"], tz),
        "peak10_text": (
            f"{hm(peak10['at_ms'], tz)}–{hm(peak10['at_ms'] + peak10['minutes'] * 60_000, tz)}"
            if peak10["at_ms"] is not None
            else "—"
        ),
        "mark_labels": [hm(m, tz) for m in review["marks"][:-1]] + ["收官"],
        "table_labels": TABLE_LABELS,
        "board_labels": BOARD_LABELS,
        "event_labels": EVENT_LABELS,
        "action_titles": ACTION_TITLES,
        "hm": lambda ms: hm(ms, tz),
        "hms": lambda ms: hms(ms, tz),
        "duration_text": duration_text,
    }
