"""FlashSaleShape: a flash-sale day compressed into a few minutes of load.

Use it by naming this file after the locustfile (loadtests/drill.conf does):
    locust -f loadtests/locustfile.py,loadtests/shapes.py --headless --host ...
The ingest user count follows the simulator's order-rate curve (doors-open spike at
10:00, second wave at 12:00, the 13:00 slump, recovery, closing rush), scaled so the
spike reaches `--shape-peak-users`; with `--shape-spike-x X` the quietest moment has
peak/X users (the spike is X times the baseline), otherwise the curve keeps its own
proportions. `--ws-viewers` sockets come on top, held all day. A shape ignores
--run-time and -u/-r, so this one stops the test itself after `--shape-seconds`.
"""

from __future__ import annotations

import time

from locust import LoadTestShape

from warroom.simulator import SALE_MINUTES, intensity

_CURVE = [intensity(m / 4) for m in range(SALE_MINUTES * 4)]
PEAK, QUIETEST = max(_CURVE), min(_CURVE)


def ingest_users(minute: float, peak: int, spike_x: float = 0) -> int:
    """Ingest users at `minute` of the day for a spike of `peak` users."""
    level = intensity(minute)
    if spike_x and spike_x > 1:
        floor = peak / spike_x
        share = (level - QUIETEST) / (PEAK - QUIETEST)
        return max(1, round(floor + (peak - floor) * share))
    return max(1, round(peak * level / PEAK))


class FlashSaleShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options if self.runner else None
        seconds = float(getattr(opts, "shape_seconds", 120))
        peak = int(getattr(opts, "shape_peak_users", 50))
        spike_x = float(getattr(opts, "shape_spike_x", 0) or 0)
        viewers = int(getattr(opts, "ws_viewers", 0))  # fixed_count users, held all day
        # The day starts once the drill's setup is done (campaign, baselines): on a slow
        # deployment that can take longer than a short day.
        ready = getattr(opts, "ready_at", None)
        elapsed = 0.0 if ready is None else time.monotonic() - ready
        if elapsed >= seconds:
            return None  # the day is over: stop the test
        minute = elapsed / seconds * SALE_MINUTES
        users = viewers + ingest_users(minute, peak, spike_x)
        # Spawn fast (the doors-open spike is steep), viewers included.
        return users, max(10.0, peak / 2, viewers / 5)
