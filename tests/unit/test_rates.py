"""The engineers' page's events per second (core/rates.py): the increase of a counter
over the last ~10 s of readings, never a division by zero, restarts counted as Prometheus
counts them, and no stale average after a long pause."""

from __future__ import annotations

import pytest

from warroom.core.rates import RateWindow, increase

A, B = ("sale", "accepted"), ("sale", "duplicate")


def test_one_reading_has_no_rate_yet() -> None:
    w: RateWindow[tuple[str, str]] = RateWindow()
    rates = w.observe(100.0, {A: 50})
    assert rates.span_s == 0 and rates.of(A) is None and rates.of(B) is None


def test_rate_is_the_increase_over_the_span() -> None:
    w: RateWindow[tuple[str, str]] = RateWindow(window_s=10)
    w.observe(100.0, {A: 50, B: 4})
    rates = w.observe(102.0, {A: 70, B: 4})
    assert rates.span_s == pytest.approx(2.0)
    assert rates.of(A) == pytest.approx(10.0)
    assert rates.of(B) == 0.0
    assert rates.of(("other", "accepted")) == 0.0  # known span, never counted: 0, not None


def test_the_window_keeps_about_ten_seconds() -> None:
    w: RateWindow[str] = RateWindow(window_s=10)
    total = 0
    for t in range(0, 31, 2):  # a poll every 2 s; 5 events/s for 20 s, then 1/s
        total += 10 if t <= 20 else 2
        rates = w.observe(float(t), {"k": total})
    # The baseline is the last reading at or before t - 10 (t = 20): 10 s of 1/s.
    assert rates.span_s == pytest.approx(10.0)
    assert rates.of("k") == pytest.approx(1.0)


def test_same_instant_and_clock_going_back_never_divide_by_zero() -> None:
    w: RateWindow[str] = RateWindow()
    w.observe(5.0, {"k": 1})
    rates = w.observe(5.0, {"k": 3})  # the same instant replaces the reading
    assert rates.span_s == 0 and rates.of("k") is None
    rates = w.observe(4.0, {"k": 4})  # earlier than the last: replaces it too
    assert rates.span_s == 0 and rates.of("k") is None
    rates = w.observe(6.0, {"k": 6})
    assert rates.span_s == pytest.approx(2.0) and rates.of("k") == pytest.approx(1.0)


def test_a_counter_that_went_down_restarted_from_zero() -> None:
    assert increase(10, 15) == 5
    assert increase(100, 7) == 7  # restarted: 0 -> 7
    w: RateWindow[str] = RateWindow(window_s=10)
    w.observe(0.0, {"k": 100})
    w.observe(2.0, {"k": 120})  # +20
    rates = w.observe(4.0, {"k": 6})  # a restart, then +6
    assert rates.of("k") == pytest.approx(26 / 4)
    assert all(v >= 0 for v in rates.per_s.values())


def test_a_series_that_appears_started_at_zero() -> None:
    w: RateWindow[str] = RateWindow()
    w.observe(0.0, {})
    rates = w.observe(2.0, {"new": 8})
    assert rates.of("new") == pytest.approx(4.0)


def test_a_long_pause_shows_no_stale_average() -> None:
    w: RateWindow[str] = RateWindow(window_s=10, max_age_s=60)
    w.observe(0.0, {"k": 0})
    rates = w.observe(3600.0, {"k": 36_000})
    assert rates.of("k") is None  # an hour's average is not "now"
    rates = w.observe(3602.0, {"k": 36_010})
    assert rates.of("k") == pytest.approx(5.0)


def test_bounded_memory_and_checked_arguments() -> None:
    w: RateWindow[str] = RateWindow(window_s=10, keep=4)
    for i in range(100):
        w.observe(i * 0.01, {"k": i})
    assert len(w._readings) == 4
    with pytest.raises(ValueError):
        RateWindow(window_s=0)
    with pytest.raises(ValueError):
        RateWindow(window_s=10, max_age_s=5)
