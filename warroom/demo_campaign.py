"""The demo's reference campaign: its settings (PRODUCT.md's reference sale on the
simulated day) and creating it through the public API. Shared by `warroom demo`, the
load drill, the benchmarks and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from warroom.adapters.clock import real_now_ms
from warroom.core.ingest.clock import CampaignClock, rfc3339, to_ms
from warroom.simulator import MIN, SALE_MINUTES

TZ = "Asia/Shanghai"


class CampaignExists(Exception):
    """The slug is taken (409)."""


@dataclass(frozen=True)
class DemoCampaign:
    slug: str
    ingest_token: str
    viewer_token: str
    starts_at_ms: int
    time_scale: float
    created_at_ms: int  # real time, as near as the client can tell

    @property
    def ends_at_ms(self) -> int:
        return self.starts_at_ms + SALE_MINUTES * MIN

    @property
    def clock(self) -> CampaignClock:
        return CampaignClock(self.starts_at_ms, self.created_at_ms, self.time_scale)


def doors_open_today(tz: str = TZ) -> int:
    """10:00 today in the campaign's zone. A rehearsal clock starts at `starts_at` the
    moment the campaign is created, so doors open now and the screens read 10:00-17:00:
    the day's story (10:30 report, 11:00 TOP, 13:00 slump) keeps its real labels."""
    now = datetime.now(ZoneInfo(tz))
    return to_ms(now.replace(hour=10, minute=0, second=0, microsecond=0))


def _rule(
    name: str, metric: str, window: int, ratio: float, sustain: int, **action: Any
) -> dict[str, Any]:
    return {
        "name": name, "metric": metric, "window_minutes": window, "below_peak_ratio": ratio,
        "sustain_minutes": sustain, "cooldown_minutes": 60, "max_fires": 2, "action": action,
    }  # fmt: skip


# The demo's effect window (campaign minutes; 15 real seconds at the default 60x): long
# enough for the lift the simulator puts in after a fire (simulator.LIFT), short enough
# that the effect is on the screens a few seconds after the rain.
EFFECT_MINUTES = 15
# An operator has this long to approve the 买二送一 proposal in the console (a real
# minute at 60x) before it expires.
PROPOSE_TTL_MINUTES = 60


def demo_settings(slug: str, time_scale: float, starts_at_ms: int) -> dict[str, Any]:
    """The reference campaign (PRODUCT.md): 100万 base, 150万 stretch, ¥1.5万 stimulus
    budget. Both rules are tuned on the simulated day to fire in the 13:00 slump and
    never in the late-morning lull (tests/integration/test_simulator.py checks it).
    The red-packet rain fires by itself and holds out a fifth of the 30 groups (6), so
    its effect is measured against them; 买二送一 is proposed to an operator, who
    approves or dismisses it in the console (docs/stimulus.md, "The simulator's day")."""
    return {
        "slug": slug,
        "name": "520真爱宠粉节·社群秒杀",
        "starts_at": rfc3339(starts_at_ms, TZ),
        "ends_at": rfc3339(starts_at_ms + SALE_MINUTES * MIN, TZ),
        "timezone": TZ,
        "target_base_fen": 100_000_000,
        "target_stretch_fen": 150_000_000,
        "milestones_fen": [10_000_000, 30_000_000, 50_000_000, 100_000_000, 150_000_000],
        "report_every_minutes": 30,
        "time_scale": int(time_scale) if float(time_scale).is_integer() else time_scale,
        "stimulus_rules": [
            _rule(
                "午间红包雨",
                "gmv_per_min",
                10,
                0.15,
                5,
                kind="red_packet_rain",
                amount_fen=200_000,
                text="🧧红包雨来了！",
            )
            | {"holdout_share": 0.2, "effect_minutes": EFFECT_MINUTES},
            _rule(
                "买二送一",
                "orders_per_min",
                15,
                0.2,
                8,
                kind="buy_n_gift",
                amount_fen=100_000,
                text="🎁买二送一：任意两件加赠旅行装，限时30分钟！",
            )
            | {
                "mode": "propose",
                "propose_ttl_minutes": PROPOSE_TTL_MINUTES,
                "effect_minutes": EFFECT_MINUTES,
            },
        ],  # fmt: skip
        "stimulus_budget_fen": 1_500_000,
        # A rehearsal's stragglers (orders that reach us a few campaign minutes late)
        # arrive within seconds of the close: the final need not wait the default 30 s.
        "final_grace_seconds": 10,
    }


async def create_demo_campaign(
    client: httpx.AsyncClient,
    admin_token: str,
    slug: str,
    time_scale: float = 60,
    starts_at_ms: int | None = None,
) -> DemoCampaign:
    """POST the reference campaign. `starts_at` defaults to 10:00 today when the clock
    runs faster than real time (see `doors_open_today`), else to now."""
    if starts_at_ms is None:
        starts_at_ms = doors_open_today() if time_scale > 1 else real_now_ms()
    body = demo_settings(slug, time_scale, starts_at_ms)
    before = real_now_ms()
    headers = {"Authorization": f"Bearer {admin_token}"}
    res = await client.post("/api/v1/campaigns", json=body, headers=headers)
    if res.status_code == 409:
        raise CampaignExists(slug)
    if res.status_code != 201:
        raise RuntimeError(f"could not create campaign ({res.status_code}): {res.text[:300]}")
    data = res.json()
    # The server stamps its creation time inside the request: the midpoint is within
    # half a round trip of it (a few campaign seconds at most at time_scale 60).
    created = (before + real_now_ms()) // 2
    tokens = data["ingest_token"], data["viewer_token"]
    return DemoCampaign(data["slug"], *tokens, starts_at_ms, float(time_scale), created)
