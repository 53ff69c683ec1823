"""Dashboard-socket frames, computed once per campaign update (never once per viewer).

Pure: snapshots and feeds in, frame dicts out. A room keeps the previous snapshot and
the ids of the feed items it has already announced; `diff` says what an `update` frame
must carry, which reports and stimuli are new, and whether the state went backwards
(hot state wiped and rebuilt) so that every viewer must resync from a fresh snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Literal, TypeVar, cast

import orjson

from warroom.core.live.shapes import (
    LiteSnapshot,
    ReportItem,
    Snapshot,
    StimulusItem,
    UpdatableKey,
    UpdateBody,
)

# Counters that only ever grow while hot state is intact; a drop means a rebuild.
MONOTONIC_TOTALS: tuple[Literal["gmv_fen", "refund_fen", "orders", "items", "messages"], ...] = (
    "gmv_fen",
    "refund_fen",
    "orders",
    "items",
    "messages",
)
# Snapshot parts an update may carry, besides `totals` (always) and the freshness.
UPDATABLE: tuple[UpdatableKey, ...] = ("target", "velocity", "last_event_at", "restoring")


@dataclass
class Diff:
    update: UpdateBody
    changed: bool  # anything besides the clock and the freshness figure
    new_reports: list[ReportItem] = field(default_factory=list)
    new_stimuli: list[StimulusItem] = field(default_factory=list)
    resync: bool = False


def _campaign_settings(snap: Snapshot) -> dict[str, object]:
    return {k: v for k, v in snap["campaign"].items() if k != "now"}


def _went_backwards(prev: Snapshot, cur: Snapshot) -> bool:
    if any(cur["totals"][k] < prev["totals"][k] for k in MONOTONIC_TOTALS):
        return True
    minutes = {row["minute"] for row in cur["per_minute"]}
    return any(row["minute"] not in minutes for row in prev["per_minute"])


# Reports and rules extensions (docs/reports.md): rule states and the report count.
UPDATABLE = (*UPDATABLE, "rules", "reports_total")


# A feed item's id: reports have integer ids; a stimulus may carry its claim key.
FeedId = int | str | None
Item = TypeVar("Item", ReportItem, StimulusItem)


def new_items(seen: Set[FeedId], feed: list[Item]) -> tuple[list[Item], set[FeedId]]:
    """Items whose id was not in the previous read, in feed order. A set, not a
    high-water mark: two announcers may push ids out of order (7 after 8)."""
    fresh = [item for item in feed if item.get("id") not in seen]
    return fresh, {item.get("id") for item in feed}


def diff(prev: Snapshot, cur: Snapshot) -> Diff:
    """The body of an `update` frame from `prev` to `cur` (both full snapshots)."""
    update: UpdateBody = {"totals": cur["totals"], "now": cur["campaign"]["now"]}
    if _went_backwards(prev, cur):
        return Diff(update, changed=True, resync=True)
    changed = cur["totals"] != prev["totals"]
    for key in UPDATABLE:
        if cur.get(key) != prev.get(key):
            update[key] = cur.get(key)
            changed = True
    if _campaign_settings(cur) != _campaign_settings(prev):
        update["campaign"] = cur["campaign"]
        changed = True
    old_rows = {row["minute"]: row for row in prev["per_minute"]}
    rows = [row for row in cur["per_minute"] if old_rows.get(row["minute"]) != row]
    if rows:
        update["per_minute"] = rows
        changed = True
    boards = {
        name: rows
        for name, rows in cur["leaderboards"].items()
        if prev["leaderboards"].get(name) != rows
    }
    if boards:
        update["leaderboards"] = boards
        changed = True
    if cur["stimuli"] != prev["stimuli"]:
        update["stimuli"] = cur["stimuli"]  # a fire's uplift became known, or a new fire
        changed = True
    return Diff(update, changed=changed)


def lite(snap: Snapshot) -> LiteSnapshot:
    """The snapshot for phones: no per-minute history (the host view draws no chart)."""
    return cast(LiteSnapshot, {k: v for k, v in snap.items() if k != "per_minute"})


def encode(frame: Mapping[str, object]) -> str:
    """Encoded once, sent as the same text to every viewer of the room."""
    return orjson.dumps(frame).decode()
