"""Assemble the public snapshot (contract v1) from raw hot-state figures. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warroom.core.aggregate import BOARDS, RANK_CHANGE_MINUTES
from warroom.core.campaign import CampaignSettings
from warroom.core.clock import MINUTE_MS, minute_floor, rfc3339
from warroom.core.windows import velocity


def ratio(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def totals_view(t: Mapping[str, int]) -> dict[str, Any]:
    gmv = t.get("gmv", 0)
    refund = t.get("refund", 0)
    net = gmv - refund
    buyers = t.get("buyers", 0)
    members = t.get("members", 0)
    active = t.get("active_members", 0)
    return {
        "gmv_fen": gmv,
        "refund_fen": refund,
        "net_gmv_fen": net,
        "orders": t.get("orders", 0),
        "items": t.get("items", 0),
        "buyers": buyers,
        "aov_fen": (net * 2 + buyers) // (2 * buyers) if buyers else 0,  # half-up, integers only
        "members": members,
        "messages": t.get("messages", 0),
        "active_members": active,
        "conversion_rate": ratio(buyers, members),
        "interaction_rate": ratio(active, members),
    }


def rank(scores: Mapping[str, int]) -> list[str]:
    """Highest net GMV first; ties broken by id so every process agrees."""
    return sorted(scores, key=lambda k: (-scores[k], k))


def leaderboard(
    scores: Mapping[str, int],
    orders: Mapping[str, int],
    names: Mapping[str, str],
    recent: Mapping[int, Mapping[str, int]],
    size: int,
    prev: Mapping[str, int | None] | None = None,
) -> list[dict[str, Any]]:
    """`prev`: ranks before the recent minutes, already computed from a bounded read
    (core/ranking.py); without it, computed here from every entity's score."""
    ordered = rank(scores)
    if prev is not None:
        prev_rank = dict(prev)
    else:
        before = dict(scores)
        for per_entity in recent.values():
            for ident, amount in per_entity.items():
                if ident in before:
                    before[ident] -= amount
        # Ranked then = had a positive net GMV before the recent minutes; newcomers: None.
        prev_order = [k for k in rank(before) if before[k] > 0]
        prev_rank = {k: i + 1 for i, k in enumerate(prev_order)}
    return [
        {
            "id": ident,
            "name": names.get(ident, ident),
            "net_gmv_fen": scores[ident],
            "orders": orders.get(ident, 0),
            "rank": i + 1,
            "prev_rank": prev_rank.get(ident),
        }
        for i, ident in enumerate(ordered[:size])
    ]


def target_view(
    s: CampaignSettings, gmv: int, gmv_by_minute: Mapping[int, int], now_ms: int, pace_per_min: int
) -> dict[str, Any]:
    remaining_min = max(0, s.ends_at - max(now_ms, s.starts_at)) / MINUTE_MS
    projected = gmv + round(pace_per_min * remaining_min)

    def reached_at(target: int) -> str | None:
        if not target or gmv < target:
            return None
        running = 0
        for m in sorted(gmv_by_minute):
            running += gmv_by_minute[m]
            if running >= target:
                return rfc3339(m, s.timezone)
        return None

    def eta(target: int) -> str | None:
        if not target or gmv >= target or pace_per_min <= 0:
            return None
        at = minute_floor(now_ms) + int((target - gmv) / pace_per_min * MINUTE_MS)
        return rfc3339(minute_floor(at), s.timezone) if at <= s.ends_at else None

    return {
        "base_fen": s.target_base_fen,
        "stretch_fen": s.target_stretch_fen,
        "progress_base": ratio(gmv, s.target_base_fen),
        "progress_stretch": ratio(gmv, s.target_stretch_fen),
        "projected_fen": projected,
        "base_reached_at": reached_at(s.target_base_fen),
        "stretch_reached_at": reached_at(s.target_stretch_fen),
        "base_eta_at": eta(s.target_base_fen),
        "stretch_eta_at": eta(s.target_stretch_fen),
    }


ROW_METRICS = ("gmv", "orders", "buyers", "messages")


def per_minute_rows(minutes: Mapping[str, Mapping[int, int]], tz: str) -> list[dict[str, Any]]:
    # rows are the minutes with sales or messages (refund-only minutes show no row)
    keys = sorted(set().union(*(minutes[m].keys() for m in ROW_METRICS)))
    return [
        {
            "minute": rfc3339(k, tz),
            "gmv_fen": minutes["gmv"].get(k, 0),
            "orders": minutes["orders"].get(k, 0),
            "buyers": minutes["buyers"].get(k, 0),
            "messages": minutes["messages"].get(k, 0),
        }
        for k in keys
    ]


def recent_from(now_ms: int) -> int:
    """First minute whose sales count as 'recent' for prev_rank."""
    return minute_floor(now_ms) - (RANK_CHANGE_MINUTES - 1) * MINUTE_MS


def build_snapshot(
    s: CampaignSettings,
    totals: Mapping[str, int],
    minutes: Mapping[str, Mapping[int, int]],
    boards: Mapping[str, Mapping[str, int]],
    board_orders: Mapping[str, Mapping[str, int]],
    board_names: Mapping[str, Mapping[str, str]],
    board_minutes: Mapping[str, Mapping[int, Mapping[str, int]]],
    now_ms: int,
    reports: list[dict[str, Any]] | None = None,
    stimuli: list[dict[str, Any]] | None = None,
    board_prev: Mapping[str, Mapping[str, int | None]] | None = None,
) -> dict[str, Any]:
    tv = totals_view(totals)
    # After the close the velocity stays at its closing value: minutes after the end
    # are not a slump.
    vel = velocity(
        minutes["gmv"],
        minutes["orders"],
        s.starts_at,
        min(now_ms, s.ends_at),
        s.velocity_window_minutes,
    )
    return {
        "campaign": {
            "slug": s.slug,
            "name": s.name,
            "timezone": s.timezone,
            "starts_at": rfc3339(s.starts_at, s.timezone),
            "ends_at": rfc3339(s.ends_at, s.timezone),
            "now": rfc3339(now_ms, s.timezone),
            "time_scale": s.time_scale,
            # what all stimulus fires may spend (null: no cap); spent = sum of `stimuli`
            "stimulus_budget_fen": s.stimulus_budget_fen,
        },
        "totals": tv,
        "target": target_view(s, tv["gmv_fen"], minutes["gmv"], now_ms, vel.gmv_per_min_fen),
        "per_minute": per_minute_rows(minutes, s.timezone),
        "velocity": vel.as_dict(),
        "leaderboards": {
            b: leaderboard(
                boards.get(b, {}),
                board_orders.get(b, {}),
                board_names.get(b, {}),
                board_minutes.get(b, {}),
                s.leaderboard_size,
                board_prev.get(b) if board_prev else None,
            )
            for b in BOARDS
        },
        "reports": reports or [],
        "stimuli": stimuli or [],
        "last_event_at": rfc3339(totals["last_ts"], s.timezone) if totals.get("last_ts") else None,
    }
