"""A realistic flash sale, generated as v1 events and played through the public API.

Modelled on the reference campaign in PRODUCT.md (a 520 beauty sale: 1,500 people in
the groups, 1,000+ paying buyers, 15 order-takers, ¥176万 in 7 hours): doors open at
10:00 with a spike, a second wave of material at 12:00, the 13:00 slump, a recovery and
a closing rush before 17:00. `generate_sale` is pure and deterministic for a seed (Locust
and the tests reuse it); `play` sends what is due on the campaign clock.

The package, by concept: `day` (the day with no stimulus, `generate_sale`), `lifts`
(a fire as a cause: the orders it adds), `player` (sending a sale on the campaign
clock through the public API).
"""

from __future__ import annotations

# The real clock the player reads, re-exported: the tests and bench/ drive a sale with it.
from warroom.adapters.clock import real_now_ms
from warroom.simulator.day import (
    GMV_TARGET_FEN,
    GROUP_NAMES,
    MEMBERS,
    MIN,
    PRODUCTS,
    RED_PACKET_MINUTES,
    SALE_MINUTES,
    SELLERS,
    SLUMP_AT,
    SLUMP_GAP_MINUTES,
    SLUMP_SELF_RECOVERY,
    STYLES,
    Pool,
    Sale,
    generate_sale,
    intensity,
    slump_dip,
)
from warroom.simulator.lifts import (
    IDENTITY_FIELDS,
    LIFT,
    Fire,
    Lift,
    Stimulation,
    expected_incremental_fen,
    lift_orders,
    lifted_expected,
    rekey,
    sale_groups,
    treated_of,
)
from warroom.simulator.player import (
    PlayStats,
    Sender,
    play,
    post_batch,
)

__all__ = [
    "real_now_ms",
    "Fire",
    "GMV_TARGET_FEN",
    "GROUP_NAMES",
    "IDENTITY_FIELDS",
    "LIFT",
    "Lift",
    "MEMBERS",
    "MIN",
    "PRODUCTS",
    "PlayStats",
    "Pool",
    "RED_PACKET_MINUTES",
    "SALE_MINUTES",
    "SELLERS",
    "SLUMP_AT",
    "SLUMP_GAP_MINUTES",
    "SLUMP_SELF_RECOVERY",
    "STYLES",
    "Sale",
    "Sender",
    "Stimulation",
    "expected_incremental_fen",
    "generate_sale",
    "intensity",
    "lift_orders",
    "lifted_expected",
    "play",
    "post_batch",
    "rekey",
    "sale_groups",
    "slump_dip",
    "treated_of",
]
