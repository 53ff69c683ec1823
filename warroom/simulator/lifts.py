"""The stimulus as a cause: a fire lifts the treated groups' orders by a known share,
so the product's measured effect can be checked against what was put in."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from warroom.simulator.day import MIN, SALE_MINUTES, Sale

# The stimulus as a cause ----------------------------------------------------------------
# `generate_sale` is the day with no stimulus: the 13:00 slump gets back only part of
# its rate by itself (`slump_dip`). A fire adds `LIFT` of a group's own orders over the
# fire's effect window, flat (not fading), in the groups that received it and nowhere
# else: each order of a treated group in [fire, fire + effect window) brings, with
# probability LIFT, one more order like it (same seller, product and quantity, another
# buyer of the group, within the minute after it, never past the window). What it put
# in is known exactly (`Lift.injected_fen`) and in expectation
# (`expected_incremental_fen`: LIFT × the treated groups' GMV over the window).
LIFT = 0.35


@dataclass(frozen=True)
class Fire:
    """A fire as the simulator learns of it: the stimuli entry's `id` and `at`, the
    rule's effect window, and the groups it was announced to (None: every group)."""

    id: int
    at_ms: int
    effect_minutes: int
    treated: frozenset[str] | None = None
    rule: str = ""

    @property
    def until_ms(self) -> int:
        return self.at_ms + self.effect_minutes * MIN


@dataclass(frozen=True)
class Lift:
    """What one fire put into the day: its extra orders, their GMV (`injected_fen`),
    and the expected increment (`expected_fen`)."""

    fire: Fire
    share: float
    treated_groups: int
    holdout_groups: int
    orders: tuple[dict[str, Any], ...]
    injected_fen: int
    expected_fen: int


def sale_groups(sale: Sale) -> list[str]:
    """Every group of the day (the groups board's ids), sorted."""
    return sorted({e["group_id"] for e in sale.events if "group_id" in e})


def _orders(sale: Sale) -> list[dict[str, Any]]:
    """The day's orders once each (the timeline repeats a re-sent one), by `ts`."""
    seen: dict[str, dict[str, Any]] = {}
    for e in sale.events:
        if e["type"] == "order":
            seen.setdefault(e["order_id"], e)
    return sorted(seen.values(), key=lambda o: (o["ts"], o["order_id"]))


def _treated(sale: Sale, fire: Fire) -> frozenset[str]:
    return frozenset(sale_groups(sale)) if fire.treated is None else fire.treated


def _in_window(sale: Sale, fire: Fire, from_ms: int, to_ms: int) -> list[dict[str, Any]]:
    treated = _treated(sale, fire)
    return [o for o in _orders(sale) if o["group_id"] in treated and from_ms <= o["ts"] < to_ms]


def expected_incremental_fen(
    sale: Sale,
    fire: Fire,
    share: float = LIFT,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> int:
    """The GMV (fen) the fire adds in expectation to its treated groups over
    [from_ms, to_ms) (default: its effect window): `share` × their GMV there without
    the stimulus. Compare the effect the product computes with this (or with the exact
    `Lift.injected_fen`)."""
    lo = fire.at_ms if from_ms is None else max(from_ms, fire.at_ms)
    hi = fire.until_ms if to_ms is None else min(to_ms, fire.until_ms)
    base: int = sum(o["amount_fen"] for o in _in_window(sale, fire, lo, hi))
    return round(share * base)


def lift_orders(sale: Sale, fire: Fire, share: float = LIFT) -> Lift:
    """The extra orders a fire brings (deterministic for the sale's seed and the fire's
    id, time and groups; ids `{prefix}lift{fire id}-NNNNN`, never a base order's)."""
    rng = random.Random(f"{sale.seed}:{sale.id_prefix}:lift:{fire.id}:{fire.at_ms}")
    treated = _treated(sale, fire)
    groups = sale_groups(sale)
    base = _in_window(sale, fire, fire.at_ms, fire.until_ms)
    buyers: dict[str, list[str]] = {}  # who had bought in each group before the fire
    for o in _orders(sale):
        if o["ts"] < fire.at_ms and o["buyer_id"] not in buyers.setdefault(o["group_id"], []):
            buyers[o["group_id"]].append(o["buyer_id"])
    end = min(fire.until_ms, sale.start_ms + SALE_MINUTES * MIN)
    out: list[dict[str, Any]] = []
    for o in base:
        if rng.random() >= share:
            continue
        pool = buyers.get(o["group_id"]) or [o["buyer_id"]]
        extra = dict(o)
        extra.update(
            order_id=f"{sale.id_prefix}lift{fire.id}-{len(out) + 1:05d}",
            buyer_id=rng.choice(pool),
            ts=min(end - 1, o["ts"] + rng.randrange(MIN)),
        )
        out.append(extra)
    return Lift(
        fire=fire,
        share=share,
        treated_groups=len(treated),
        holdout_groups=len(set(groups) - treated),
        orders=tuple(sorted(out, key=lambda e: e["ts"])),
        injected_fen=sum(e["amount_fen"] for e in out),
        expected_fen=expected_incremental_fen(sale, fire, share),
    )


def treated_of(assignment: Any) -> frozenset[str] | None:
    """The treated groups of a fire from its assignment (`{"treated": [...],
    "holdout": [...]}`); None (every group) when there is none, it is "everyone", or
    it holds nobody out."""
    if not isinstance(assignment, dict):
        return None
    treated, holdout = assignment.get("treated"), assignment.get("holdout")
    if not isinstance(treated, list) or not treated or not holdout:
        return None
    return frozenset(str(g) for g in treated)


def lifted_expected(expected: dict[str, int], lifts: Iterable[Lift]) -> dict[str, int]:
    """The sale's totals once the lifts' orders are in: more GMV, orders and items; the
    same buyers (a lift order's buyer had bought in the group before), members and
    messages."""
    out = dict(expected)
    for lift in lifts:
        fen = lift.injected_fen
        out["gmv_fen"] += fen
        out["net_gmv_fen"] += fen
        out["orders"] += len(lift.orders)
        out["items"] += sum(o["quantity"] for o in lift.orders)
    return out


class Stimulation:
    """The day's answer to fires while it plays: `receive` each fire as it is seen
    (again with the same id: ignored); `play` takes the lift orders onto its timeline
    (those already due go at once, on time or a little late)."""

    def __init__(self, sale: Sale, share: float = LIFT) -> None:
        self.sale, self.share = sale, share
        self.lifts: dict[int, Lift] = {}
        self._pending: list[tuple[int, dict[str, Any]]] = []

    def receive(self, fire: Fire) -> Lift | None:
        if fire.id in self.lifts:
            return None
        lift = self.lifts[fire.id] = lift_orders(self.sale, fire, self.share)
        self._pending.extend((o["ts"], o) for o in lift.orders)
        return lift

    def take(self) -> list[tuple[int, dict[str, Any]]]:
        out, self._pending = sorted(self._pending, key=lambda t: t[0]), []
        return out


IDENTITY_FIELDS = ("order_id", "refund_id", "message_id", "event_id")


def rekey(event: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The same event under fresh identities (a refund keeps pointing at its order):
    replay one generated sale many times without the ledger calling it a duplicate."""
    out = dict(event)
    for name in IDENTITY_FIELDS:
        if name in out:
            out[name] = prefix + out[name]
    return out
