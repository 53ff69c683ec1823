"""Velocity over windows of complete campaign minutes, and its recent peak."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from warroom.core.ingest.clock import MINUTE_MS, minute_floor
from warroom.core.live.shapes import VelocityView


@dataclass(frozen=True)
class Velocity:
    window_minutes: int
    gmv_per_min_fen: int
    orders_per_min: float
    peak_gmv_per_min_fen: int
    peak_orders_per_min: float

    def as_dict(self) -> VelocityView:
        return {
            "window_minutes": self.window_minutes,
            "gmv_per_min_fen": self.gmv_per_min_fen,
            "orders_per_min": self.orders_per_min,
            "peak_gmv_per_min_fen": self.peak_gmv_per_min_fen,
            "peak_orders_per_min": self.peak_orders_per_min,
        }


def window_series(
    per_minute: Mapping[int, int], start_ms: int, now_ms: int, window_minutes: int
) -> list[float]:
    """Per-minute averages over the `window_minutes` complete minutes ending at each
    complete minute from `start_ms` up to `now_ms` (the current, partial minute is left
    out so a half-finished minute never looks like a slump)."""
    first = minute_floor(start_ms)
    current = minute_floor(now_ms)
    if current <= first:
        return []
    values = [per_minute.get(m, 0) for m in range(first, current, MINUTE_MS)]
    out: list[float] = []
    running = 0
    for i, v in enumerate(values):
        running += v
        if i >= window_minutes:
            running -= values[i - window_minutes]
        out.append(running / window_minutes)
    return out


def velocity(
    gmv_by_minute: Mapping[int, int],
    orders_by_minute: Mapping[int, int],
    start_ms: int,
    now_ms: int,
    window_minutes: int,
) -> Velocity:
    gmv = window_series(gmv_by_minute, start_ms, now_ms, window_minutes)
    orders = window_series(orders_by_minute, start_ms, now_ms, window_minutes)
    return Velocity(
        window_minutes=window_minutes,
        gmv_per_min_fen=round(gmv[-1]) if gmv else 0,
        orders_per_min=round(orders[-1], 2) if orders else 0.0,
        peak_gmv_per_min_fen=round(max(gmv)) if gmv else 0,
        peak_orders_per_min=round(max(orders), 2) if orders else 0.0,
    )
