"""Per-minute series for the replay (core/review/replay.py): running values by minute,
membership over time, and per-entity standings with checkpoints. Pure."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warroom.core.ingest.clock import MINUTE_MS


@dataclass(frozen=True)
class Series:
    """A per-minute series as sorted minutes and the running value after each."""

    minutes: list[int]
    values: list[int]

    def before(self, as_of_ms: int) -> int:
        i = bisect_left(self.minutes, as_of_ms)
        return self.values[i - 1] if i else 0


def series_of(per_minute: Mapping[int, int], running: Any = None) -> Series:
    keys = sorted(per_minute)
    out, acc = [], 0
    for k in keys:
        acc = running(acc, per_minute[k]) if running else acc + per_minute[k]
        out.append(acc)
    return Series(keys, out)


def members_series(events: list[tuple[int, str, str, str, str]]) -> Series:
    """Distinct members in at least one group after each minute. The latest join/leave
    of a member in a group (by ts, then key) wins, so applying them in that order and
    reading the count at each minute's end is the membership as of then."""
    joined: dict[tuple[str, str], bool] = {}
    groups_of: defaultdict[str, int] = defaultdict(int)
    count = 0
    minutes: list[int] = []
    values: list[int] = []
    for ts, _key, member, group, action in sorted(events):
        now_in = action == "join"
        if joined.get((member, group), False) != now_in:
            joined[(member, group)] = now_in
            groups_of[member] += 1 if now_in else -1
            if now_in and groups_of[member] == 1:
                count += 1
            elif not now_in and groups_of[member] == 0:
                count -= 1
        minute = ts - ts % MINUTE_MS
        if minutes and minutes[-1] == minute:
            values[-1] = count
        else:
            minutes.append(minute)
            values.append(count)
    return Series(minutes, values)


# Standings are kept whole every this many minutes, so a frame reads at most this many
# minutes of per-entity deltas, not the whole day (measured: 200k orders over 2,000
# products, 65 ms a frame from the day's end, 5 ms from the nearest checkpoint).
CHECKPOINT_MS = 15 * MINUTE_MS


@dataclass(frozen=True)
class Stepped:
    """Per-entity deltas by minute, with the running standings every CHECKPOINT_MS."""

    minutes: list[int]  # minutes with deltas, ascending
    deltas: list[dict[str, int]]
    bounds: list[int]  # checkpoints (minute boundaries), ascending; the last one after all
    totals: list[dict[str, int]]  # everything before each bound

    @classmethod
    def of(cls, per_minute: Mapping[int, Mapping[str, int]]) -> Stepped:
        minutes = sorted(per_minute)
        running: defaultdict[str, int] = defaultdict(int)
        bounds: list[int] = []
        totals: list[dict[str, int]] = []
        for m in minutes:
            if not bounds or m >= bounds[-1]:
                if bounds:  # close the previous step: everything before its bound
                    totals.append(dict(running))
                bounds.append(m - m % CHECKPOINT_MS + CHECKPOINT_MS)
            for k, v in per_minute[m].items():
                running[k] += v
        totals.append(dict(running))
        bounds = [*bounds[:-1], 2**62] if bounds else [2**62]  # the last: the whole day
        return cls(minutes, [dict(per_minute[m]) for m in minutes], bounds, totals)

    def around(
        self, as_of_ms: int, since_ms: int
    ) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
        """(the standings at the first checkpoint at or after `as_of_ms`, the deltas of
        the minutes from `since_ms` up to it): what `snapshot_as_of` needs."""
        i = bisect_left(self.bounds, as_of_ms)
        lo = bisect_left(self.minutes, min(since_ms, as_of_ms))
        hi = bisect_left(self.minutes, self.bounds[i])
        return self.totals[i], {self.minutes[j]: self.deltas[j] for j in range(lo, hi)}

    def before(self, as_of_ms: int) -> dict[str, int]:
        base, later = self.around(as_of_ms, as_of_ms)
        out = dict(base)
        for per in later.values():
            for k, v in per.items():
                out[k] -= v
        return out
