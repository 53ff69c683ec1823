"""The wall clock: the one place that reads it.

The core never reads it (time is an argument, DESIGN.md); everything else asks a
`Clock`, and the composition root hands out this one."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    """Real time in epoch milliseconds."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


SYSTEM_CLOCK = SystemClock()


def real_now_ms() -> int:
    return SYSTEM_CLOCK.now_ms()
