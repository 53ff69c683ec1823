"""Assemble the public snapshot (contract v1) from raw hot-state figures. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import MINUTE_MS, minute_floor, rfc3339
from warroom.core.live.aggregate import BOARDS, RANK_CHANGE_MINUTES
from warroom.core.live.figures import (
    Figures,
    activity_by_minute,
    boards_before,
    figures_at,
    minutes_before,
)
from warroom.core.live.projection import hour_pace, projected_range
from warroom.core.live.shapes import (
    BoardRow,
    MinuteRow,
    Minutes,
    RawState,
    RawTotals,
    ReportItem,
    RuleView,
    Snapshot,
    StimulusItem,
    TargetView,
    TotalsView,
)
from warroom.core.live.windows import velocity
from warroom.core.reports.rules import FeedState, RuleState, evaluate_rules, rule_state


def ratio(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def totals_view(t: RawTotals) -> TotalsView:
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
) -> list[BoardRow]:
    """`prev`: ranks before the recent minutes, already computed from a bounded read
    (core/live/ranking.py); without it, computed here from every entity's score."""
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


# "预计" only once enough of the sale is behind us: the opening spike is no pace.
PROJECT_AFTER_FRACTION = 0.1
PROJECT_AFTER_MS = 30 * MINUTE_MS


def projection_ready(s: CampaignSettings, now_ms: int) -> bool:
    elapsed = min(now_ms, s.ends_at) - s.starts_at
    duration = s.ends_at - s.starts_at
    return elapsed >= min(duration * PROJECT_AFTER_FRACTION, PROJECT_AFTER_MS)


def honest_pace(s: CampaignSettings, gmv: int, now_ms: int, recent_per_min: int) -> int:
    """The pace a projection may assume: the recent velocity, but never faster than the
    average so far (which dilutes an opening spike as the day goes on). Flash sales
    cool after the doors open, so the lower of the two is the honest guess."""
    elapsed_min = (min(now_ms, s.ends_at) - s.starts_at) / MINUTE_MS
    if elapsed_min <= 0:
        return 0
    return min(recent_per_min, round(gmv / elapsed_min))


def target_view(
    s: CampaignSettings, gmv: int, gmv_by_minute: Mapping[int, int], now_ms: int, pace_per_min: int
) -> TargetView:
    """Progress, the projected finish and ETAs. `pace_per_min` is the recent velocity.

    `projected_fen` is None until `projection_ready` (then gmv + remaining minutes at
    `honest_pace`), and so are `projected_low_fen` / `projected_high_fen`, the range
    around it (core/live/projection.py); `base_eta_at` / `stretch_eta_at` follow the same
    pace and the same gate. `next_milestone_fen` is the next milestone or target not yet
    reached, with `next_milestone_eta_at` at the recent velocity (a short horizon, shown
    from the start); ETAs after `ends_at` are None."""
    remaining_min = max(0, s.ends_at - max(now_ms, s.starts_at)) / MINUTE_MS
    ready = projection_ready(s, now_ms) or now_ms >= s.ends_at
    pace = honest_pace(s, gmv, now_ms, pace_per_min)
    projected = gmv + round(pace * remaining_min) if ready else None
    elapsed_min = (min(now_ms, s.ends_at) - s.starts_at) / MINUTE_MS
    average = round(gmv / elapsed_min) if elapsed_min > 0 else None
    hour = hour_pace(gmv_by_minute, s.starts_at, min(now_ms, s.ends_at))
    low, high = projected_range(gmv, remaining_min, [pace_per_min, hour, average])

    def reached_at(target: int) -> str | None:
        if not target or gmv < target:
            return None
        running = 0
        for m in sorted(gmv_by_minute):
            running += gmv_by_minute[m]
            if running >= target:
                return rfc3339(m, s.timezone)
        return None

    def eta(target: int, per_min: int) -> str | None:
        if not target or gmv >= target or per_min <= 0 or now_ms >= s.ends_at:
            return None
        at = minute_floor(now_ms) + int((target - gmv) / per_min * MINUTE_MS)
        return rfc3339(minute_floor(at), s.timezone) if at <= s.ends_at else None

    marks = sorted({*s.milestones_fen, s.target_base_fen, s.target_stretch_fen} - {0})
    upcoming = next((m for m in marks if m > gmv), None)
    return {
        "base_fen": s.target_base_fen,
        "stretch_fen": s.target_stretch_fen,
        "progress_base": ratio(gmv, s.target_base_fen),
        "progress_stretch": ratio(gmv, s.target_stretch_fen),
        "projected_fen": projected,
        "projected_low_fen": low if ready else None,
        "projected_high_fen": high if ready else None,
        "base_reached_at": reached_at(s.target_base_fen),
        "stretch_reached_at": reached_at(s.target_stretch_fen),
        "base_eta_at": eta(s.target_base_fen, pace) if ready else None,
        "stretch_eta_at": eta(s.target_stretch_fen, pace) if ready else None,
        "next_milestone_fen": upcoming,
        "next_milestone_eta_at": eta(upcoming, pace_per_min) if upcoming else None,
    }


ROW_METRICS = ("gmv", "orders", "buyers", "messages")


def per_minute_rows(minutes: Minutes, tz: str) -> list[MinuteRow]:
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


def rules_view(
    s: CampaignSettings,
    minutes: Minutes,
    last_ts: int | None,
    now_ms: int,
    stimuli: list[StimulusItem],
) -> list[RuleView]:
    """Each stimulus rule's state for the operator: `armed`, `held` (and why: the feed
    is silent, nothing has arrived yet; the screens add figures restoring) or `done`."""
    if not s.stimulus_rules:
        return []
    states: dict[str, RuleState] = {}
    for f in stimuli:
        st = states.get(f.get("rule", ""), RuleState())
        at = int(datetime.fromisoformat(f["at"]).timestamp() * 1000)
        last = max(at, st.last_fire_at_ms or at)
        states[f.get("rule", "")] = RuleState(st.fires_so_far + 1, last)
    spent = sum(int(f.get("amount_fen") or 0) for f in stimuli)
    feed = FeedState(activity_by_minute(minutes), last_ts)
    return [
        {"name": rule.name, "state": rule_state(d), "reason": d.reason}
        for rule, d in evaluate_rules(
            s, minutes["gmv"], minutes["orders"], now_ms, states, spent, feed
        )
    ]


def reports_total(reports: list[ReportItem]) -> int:
    """How many reports exist: each feed item carries its number `n` (counted in SQL
    when it was written); the feed itself keeps only the newest few."""
    return max((int(r.get("n") or 0) for r in reports), default=0) or len(reports)


def recent_from(now_ms: int) -> int:
    """First minute whose sales count as 'recent' for prev_rank."""
    return minute_floor(now_ms) - (RANK_CHANGE_MINUTES - 1) * MINUTE_MS


def build_snapshot(
    s: CampaignSettings,
    raw: RawState,
    now_ms: int,
    reports: list[ReportItem] | None = None,
    stimuli: list[StimulusItem] | None = None,
) -> Snapshot:
    totals, minutes, board_prev = raw.totals, raw.minutes, raw.board_prev
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
                raw.boards.get(b, {}),
                raw.board_orders.get(b, {}),
                raw.board_names.get(b, {}),
                raw.board_minutes.get(b, {}),
                s.leaderboard_size,
                board_prev.get(b) if board_prev else None,
            )
            for b in BOARDS
        },
        "reports": reports or [],
        "reports_total": reports_total(reports or []),
        "stimuli": stimuli or [],
        "rules": rules_view(s, minutes, totals.get("last_ts"), now_ms, stimuli or []),
        "last_event_at": rfc3339(totals["last_ts"], s.timezone) if totals.get("last_ts") else None,
    }


def snapshot_as_of(
    s: CampaignSettings,
    raw: RawState,
    as_of_ms: int,
    stimuli: list[StimulusItem] | None = None,
) -> tuple[Snapshot, Figures]:
    """The snapshot as it stood at `as_of_ms` (a minute boundary), and its figures.

    Money, orders, buyers and messages are the per-minute sums below `as_of_ms`;
    velocity, progress and the projection follow from them; leaderboards drop the
    minutes at or after it (`board_minutes` must hold all of those). What hot state
    does not keep per minute (items, members, active members) is today's value."""
    totals, minutes, board_minutes = raw.totals, raw.minutes, raw.board_minutes
    figs = figures_at(minutes, as_of_ms, totals.get("buyers"))
    before = minutes_before(minutes, as_of_ms)
    t = totals.copy()
    t.update(
        {
            "gmv": figs.gmv_fen,
            "refund": figs.refund_fen,
            "orders": figs.orders,
            "buyers": figs.buyers,
            "messages": sum(before.get("messages", {}).values()),
        }
    )
    last_ts = t.get("last_ts")
    if last_ts:
        t["last_ts"] = min(last_ts, as_of_ms - 1)
    scores = boards_before(raw.boards, board_minutes, as_of_ms)
    recent = {b: {m: v for m, v in per.items() if m < as_of_ms} for b, per in board_minutes.items()}
    fired = [
        f
        for f in stimuli or []
        if int(datetime.fromisoformat(f["at"]).timestamp() * 1000) < as_of_ms
    ]
    past = RawState(t, before, scores, raw.board_orders, raw.board_names, recent)
    snap = build_snapshot(s, past, as_of_ms, [], fired)
    return snap, figs
