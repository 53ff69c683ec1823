"""FlashSaleShape: a flash-sale day compressed into a few minutes of load.

Use it by naming this file after the locustfile:
    locust -f loadtests/locustfile.py,loadtests/shapes.py --headless --host ...
The user count follows the simulator's order-rate curve (doors-open spike at 10:00,
second wave at 12:00, the 13:00 slump, recovery, closing rush) scaled so the spike
reaches `--shape-peak-users` ingest users (`--ws-viewers` sockets come on top). A shape ignores --run-time and -u/-r, so this one stops
the test itself after `--shape-seconds`.
"""

from __future__ import annotations

from locust import LoadTestShape

from warroom.simulator import SALE_MINUTES, intensity

PEAK = max(intensity(m / 4) for m in range(SALE_MINUTES * 4))


class FlashSaleShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options if self.runner else None
        seconds = float(getattr(opts, "shape_seconds", 120))
        peak = int(getattr(opts, "shape_peak_users", 50))
        viewers = int(getattr(opts, "ws_viewers", 0))  # fixed_count users, held all day
        elapsed = self.get_run_time()
        if elapsed >= seconds:
            return None  # the day is over: stop the test
        minute = elapsed / seconds * SALE_MINUTES
        users = viewers + max(1, round(peak * intensity(minute) / PEAK))
        return users, max(10.0, peak / 2)  # spawn fast: the doors-open spike is steep
