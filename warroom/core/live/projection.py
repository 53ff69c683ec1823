"""The projected finish as a range. Pure.

A single projected figure (GMV + the minutes left at one pace) swings with every lull
and every rush: a 13:00 slump halves it, the red-packet rain after it doubles it back.
The wall shows a range instead, from three paces measured on the same data:

- the recent velocity (the snapshot's `velocity` window, complete minutes only),
- the last hour's typical minute (the median of its complete minutes; fewer early on),
- the average pace since the doors opened.

The low end sells the minutes left at `LOW_FACTOR` of the slowest of them (flash sales
cool as the day goes on, so even the slowest pace seen tends to be optimistic for the
rest of the day); the high end at the fastest. The point projection (`projected_fen`)
always lies inside, and the range narrows to the final figure as the minutes left
run out."""

from __future__ import annotations

from collections.abc import Mapping
from statistics import median

from warroom.core.ingest.clock import MINUTE_MS, minute_floor

# The hour whose pace is the steadiest of the three.
HOUR_MINUTES = 60
# Flash sales cool: the low end assumes the rest sells at 3/4 of the slowest pace seen.
LOW_FACTOR = 0.75


def hour_pace(gmv_by_minute: Mapping[int, int], starts_at: int, now_ms: int) -> int | None:
    """The median of the per-minute GMV over the complete minutes of the last hour (from
    the doors when fewer have passed; a minute with no sale counts as 0); None before
    one minute has completed. A median, not a mean: a 15-minute slump or a
    red-packet rush inside the hour does not move it."""
    end = minute_floor(now_ms)
    first = max(minute_floor(starts_at), end - HOUR_MINUTES * MINUTE_MS)
    if end - first < MINUTE_MS:
        return None
    return round(median(gmv_by_minute.get(m, 0) for m in range(first, end, MINUTE_MS)))


def projected_range(
    gmv: int,
    remaining_min: float,
    paces: list[int | None],
) -> tuple[int, int]:
    """(low, high) for GMV + `remaining_min` minutes at the paces given (fen per
    minute; None: not measurable yet, left out). With no pace, or no minute left,
    both ends are `gmv`."""
    known = [max(p, 0) for p in paces if p is not None]
    if not known or remaining_min <= 0:
        return gmv, gmv
    low = gmv + round(min(known) * LOW_FACTOR * remaining_min)
    high = gmv + round(max(known) * remaining_min)
    return low, high
