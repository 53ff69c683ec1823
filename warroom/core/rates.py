"""Rates from counter readings kept in memory: what the console's engineers' page shows
as "events per second" without Prometheus.

A `RateWindow` is given the totals of a counter (by any key, e.g. (campaign, outcome))
each time someone looks, with the time of the look. Its rate for a key is the counter's
increase over the last `window_s` seconds or so, divided by the seconds between the
oldest and the newest reading kept. As Prometheus's `rate()` does, a total that went
down is a counter that restarted from zero (a process restarted): its increase for that
step is the new total. Readings older than `max_age_s` are dropped, so a page opened
after an hour shows no rate (None) until its second look, rather than an hour's average.

Pure: the caller gives the time (a monotonic clock, in seconds)."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Reading(Generic[K]):
    at_s: float
    totals: Mapping[K, float]


@dataclass(frozen=True)
class Rates(Generic[K]):
    span_s: float  # seconds between the oldest and the newest reading used (0: none yet)
    per_s: Mapping[K, float]  # keys seen in the window; a key not here went up by nothing

    def of(self, key: K) -> float | None:
        """The key's rate per second; None when there is no span yet to measure over."""
        if self.span_s <= 0:
            return None
        return self.per_s.get(key, 0.0)


def increase(before: float, after: float) -> float:
    """How much a counter went up between two readings; down means it restarted at 0."""
    return after - before if after >= before else after


class RateWindow(Generic[K]):
    def __init__(self, window_s: float = 10.0, max_age_s: float = 60.0, keep: int = 512) -> None:
        if window_s <= 0 or max_age_s < window_s or keep < 2:
            raise ValueError("need 0 < window_s <= max_age_s and keep >= 2")
        self.window_s = window_s
        self.max_age_s = max_age_s
        self._readings: deque[Reading[K]] = deque(maxlen=keep)

    def observe(self, at_s: float, totals: Mapping[K, float]) -> Rates[K]:
        """Add a reading taken at `at_s`, forget what the window no longer needs, and
        answer the rates. A reading not later than the last one replaces it (the same
        instant, or a clock that did not move), so no span is ever zero or negative."""
        readings = self._readings
        while readings and readings[-1].at_s >= at_s:
            readings.pop()
        readings.append(Reading(at_s, dict(totals)))
        # Too old to say anything about now.
        while readings and readings[0].at_s < at_s - self.max_age_s:
            readings.popleft()
        # Keep one reading at or before the window's start (the baseline), none older.
        while len(readings) >= 2 and readings[1].at_s <= at_s - self.window_s:
            readings.popleft()
        return self.rates()

    def rates(self) -> Rates[K]:
        readings = self._readings
        if len(readings) < 2:
            return Rates(0.0, {})
        span = readings[-1].at_s - readings[0].at_s
        if span <= 0:
            return Rates(0.0, {})
        up: dict[K, float] = {}
        prev = readings[0].totals
        for r in list(readings)[1:]:
            for key, value in r.totals.items():
                # A key absent before was a series not yet created: it started at 0.
                up[key] = up.get(key, 0.0) + increase(prev.get(key, 0.0), value)
            prev = r.totals
        return Rates(span, {k: v / span for k, v in up.items()})
