"""The money-free variant of the live snapshot and of its frames, for a masked wall
(contract v3: a masked wall link never receives an amount of money from the server).

Pure: a full snapshot (or frame) in, its masked twin out. Every amount (GMV, refunds,
AOV, targets, milestones, projections, per-minute and per-row sales, the stimulus
budget and red-packet amounts) is dropped; what is left are counts, ranks, names,
times and *shares*: a fraction of the base target (of the stretch target when there is
no base, of the total when there is neither), which tells the room how far it is
without telling anyone how much. Report and stimulus texts have their money replaced
with ¥••• (the masked poster's rule, core/reports/poster.py), and a report's stored
figures travel only as counts.

Masked fields are named for what they hold (`*_share`, `share`), never `*_fen`: a
client cannot mistake a share for an amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warroom.core.reports.poster import mask_money

MASKED_TOTALS = (
    "orders",
    "items",
    "buyers",
    "members",
    "messages",
    "active_members",
    "conversion_rate",
    "interaction_rate",
)
TARGET_TIMES = (
    "progress_base",
    "progress_stretch",
    "base_reached_at",
    "stretch_reached_at",
    "base_eta_at",
    "stretch_eta_at",
    "next_milestone_eta_at",
)


def denominator(snap: Mapping[str, Any]) -> int:
    """What shares are a fraction of: the base target, else the stretch, else the total."""
    target = snap.get("target") or {}
    totals = snap.get("totals") or {}
    return int(target.get("base_fen") or target.get("stretch_fen") or totals.get("gmv_fen") or 0)


def _share(fen: Any, den: int) -> float | None:
    if not isinstance(fen, int | float) or not den:
        return None
    return round(fen / den, 4)


def mask_totals(totals: Mapping[str, Any], den: int) -> dict[str, Any]:
    out = {k: totals[k] for k in MASKED_TOTALS if k in totals}
    out["gmv_share"] = _share(totals.get("gmv_fen"), den)
    return out


def mask_target(target: Mapping[str, Any] | None, den: int, milestones: list[int]) -> Any:
    if target is None:
        return None
    out: dict[str, Any] = {k: target.get(k) for k in TARGET_TIMES}
    out["has_base"] = bool(target.get("base_fen"))
    out["has_stretch"] = bool(target.get("stretch_fen"))
    out["stretch_share"] = _share(target.get("stretch_fen"), den)
    out["projected_share"] = _share(target.get("projected_fen"), den)
    out["projected_low_share"] = _share(target.get("projected_low_fen"), den)
    out["projected_high_share"] = _share(target.get("projected_high_fen"), den)
    upcoming = target.get("next_milestone_fen")
    out["next_milestone_share"] = _share(upcoming, den)
    # "第 3 个里程碑": its place among the thresholds, never its amount
    out["next_milestone_n"] = milestones.index(upcoming) + 1 if upcoming in milestones else None
    return out


def mask_velocity(velocity: Mapping[str, Any] | None, den: int) -> Any:
    if velocity is None:
        return None
    return {
        "window_minutes": velocity.get("window_minutes"),
        "orders_per_min": velocity.get("orders_per_min"),
        "peak_orders_per_min": velocity.get("peak_orders_per_min"),
        "gmv_per_min_share": _share(velocity.get("gmv_per_min_fen"), den),
        "peak_gmv_per_min_share": _share(velocity.get("peak_gmv_per_min_fen"), den),
    }


def mask_minute(row: Mapping[str, Any], den: int) -> dict[str, Any]:
    return {
        "minute": row.get("minute"),
        "orders": row.get("orders"),
        "buyers": row.get("buyers"),
        "messages": row.get("messages"),
        "gmv_share": _share(row.get("gmv_fen"), den),
    }


def mask_row(row: Mapping[str, Any], den: int) -> dict[str, Any]:
    return {
        "id": row.get("id"),
        "name": row.get("name"),
        "orders": row.get("orders"),
        "rank": row.get("rank"),
        "prev_rank": row.get("prev_rank"),
        "share": _share(row.get("net_gmv_fen"), den),
    }


def mask_boards(boards: Mapping[str, Any], den: int) -> dict[str, Any]:
    return {name: [mask_row(r, den) for r in rows] for name, rows in boards.items()}


def mask_report(report: Mapping[str, Any]) -> dict[str, Any]:
    figures = report.get("figures")
    counts = None
    if isinstance(figures, Mapping):
        counts = {k: figures.get(k) for k in ("as_of", "orders", "buyers")}
    return {
        "id": report.get("id"),
        "kind": report.get("kind"),
        "at": report.get("at"),
        "n": report.get("n"),
        "text": mask_money(str(report.get("text") or "")),
        "figures": counts,
    }


def mask_stimulus(stimulus: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in stimulus.items() if k not in ("amount_fen", "text")}
    out["amount_fen"] = None  # the banner shows no amount; the key stays for old scripts
    out["text"] = mask_money(str(stimulus.get("text") or ""))
    return out


def mask_campaign(campaign: Mapping[str, Any]) -> dict[str, Any]:
    return {**campaign, "stimulus_budget_fen": None}


def milestones_of(marks: list[int]) -> list[int]:
    return sorted(set(marks) - {0})


def mask_snapshot(snap: Mapping[str, Any], marks: list[int]) -> dict[str, Any]:
    """The masked snapshot (or lite snapshot): the same parts, money-free. `marks`: the
    campaign's thresholds (milestones and targets), to number the next one."""
    den = denominator(snap)
    milestones = milestones_of(marks)
    out: dict[str, Any] = {}
    for key, value in snap.items():
        out[key] = _mask_part(key, value, den, milestones)
    out["masked"] = True
    return out


def mask_update(
    body: Mapping[str, Any], snap: Mapping[str, Any], marks: list[int]
) -> dict[str, Any]:
    """An `update` frame's body, masked against the snapshot it was diffed to."""
    den = denominator(snap)
    milestones = milestones_of(marks)
    return {key: _mask_part(key, value, den, milestones) for key, value in body.items()}


def mask_frame(
    frame: Mapping[str, Any], snap: Mapping[str, Any], marks: list[int]
) -> dict[str, Any]:
    """Any frame of the socket, masked (snapshot, update, report, stimulus)."""
    kind = frame.get("type")
    if kind == "report":
        return {**frame, "report": mask_report(frame["report"])}
    if kind == "stimulus":
        return {**frame, "stimulus": mask_stimulus(frame["stimulus"])}
    if kind == "snapshot":
        return mask_snapshot(frame, marks)
    return mask_update(frame, snap, marks)


def _mask_part(key: str, value: Any, den: int, milestones: list[int]) -> Any:
    if value is None:
        return None
    if key == "totals":
        return mask_totals(value, den)
    if key == "target":
        return mask_target(value, den, milestones)
    if key == "velocity":
        return mask_velocity(value, den)
    if key == "per_minute":
        return [mask_minute(r, den) for r in value]
    if key == "leaderboards":
        return mask_boards(value, den)
    if key == "reports":
        return [mask_report(r) for r in value]
    if key == "stimuli":
        return [mask_stimulus(s) for s in value]
    if key == "campaign":
        return mask_campaign(value)
    if key == "rules":
        return [{**r, "reason": mask_money(str(r.get("reason") or ""))} for r in value]
    if key == "report":
        return mask_report(value)
    if key == "stimulus":
        return mask_stimulus(value)
    return value  # counts, times, flags, rules (names and states), freshness
