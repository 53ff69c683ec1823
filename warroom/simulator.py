"""A realistic flash sale, generated as v1 events and played through the public API.

Modelled on the reference campaign in PRODUCT.md (a 520 beauty sale: 1,500 people in
the groups, 1,000+ paying buyers, 15 order-takers, ¥176万 in 7 hours): doors open at
10:00 with a spike, a second wave of material at 12:00, the 13:00 slump, a recovery and
a closing rush before 17:00. `generate_sale` is pure and deterministic for a seed (Locust
and the tests reuse it); `play` sends what is due on the campaign clock.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from warroom.adapters.clock import real_now_ms
from warroom.core.ingest.clock import CampaignClock

log = logging.getLogger(__name__)
MIN = 60_000
SALE_MINUTES = 420  # 10:00-17:00
GMV_TARGET_FEN = 176_000_000  # ¥176万 gross at scale 1
MEMBERS = 1500  # people in the groups at scale 1
# Order-takers (团长/接龙): (name, strength, style). Names look like a real day's, emoji
# included; the hostile names that prove every screen escapes live in the tests
# (tests/hostile.py), never in what the demo shows.
SELLERS = [
    ("小美团长", 1.00, "steady"), ("🌸花姐接龙", 0.80, "late"), ("阿强团长", 0.90, "early"),
    ("丽丽的小铺", 0.70, "steady"), ("王姐社区团", 0.75, "early"), ("芳芳团长", 0.60, "late"),
    ("晓燕接龙", 0.55, "steady"), ("陈哥优选", 0.50, "early"), ("李嫂鲜生", 0.45, "late"),
    ("婷婷美妆团", 0.40, "steady"), ("老周团长", 0.35, "early"), ("小雨接龙", 0.30, "late"),
    ("静静好物", 0.28, "steady"), ("大刘团购", 0.25, "steady"), ("萌萌宝妈团", 0.22, "late"),
]  # fmt: skip
# Morning / afternoon pull of each style: leaders change places after lunch.
STYLES = {"steady": (1.0, 1.0), "early": (1.35, 0.7), "late": (0.7, 1.45)}
GROUP_NAMES = [
    "幸福里1号群", "阳光花园业主团", "520宠粉福利群", "美丽人生2群", "锦绣家园团购", "蓝湾邻里群",
    "宝妈互助群", "翠苑好物群", "A&B“邻里”群", "金色港湾3群", "城南美妆群", "东方名苑团",
    "滨江一号群", "丽景湾2群", "绿城桂花园", "万科城福利群", "保利心语群", "星河湾美丽群",
    "碧桂园接龙群", "书香门第群", "龙湖滟澜山", "华润二十四城", "中海寰宇天下", "融创玖樟台",
    "招商雍华府", "和平里老街坊", "学府路美业群", "花溪小镇团", "云顶宠粉2群", "桃李春风群",
]  # fmt: skip
PRODUCTS = [  # (name, price_fen, popularity)
    ("玫瑰精华面膜(10片装)", 9900, 10), ("玻尿酸补水喷雾", 5990, 6), ("520限定口红礼盒", 29900, 9),
    ("氨基酸洗面奶", 4990, 6), ("烟酰胺美白精华", 19900, 9), ("清透防晒霜SPF50+", 8900, 7),
    ("胶原蛋白饮(10瓶)", 15900, 7), ("修护眼霜", 23900, 6), ("樱花身体乳", 6990, 5),
    ("温和卸妆水500ml", 7990, 5), ("9.9元秒杀·化妆棉", 990, 10), ("护手霜三支装", 2990, 6),
    ("头皮养护套装", 39900, 4), ("射频美容仪", 39900, 4), ("香氛沐浴露", 4590, 4),
    ("硅胶洁面仪", 19900, 3), ("美容院体验卡(1次)", 9900, 5), ("精油香薰套装", 12900, 4),
    ("睡眠面膜", 8800, 5), ("蓬松发膜", 3990, 4),
]  # fmt: skip
QUANTITIES, QTY_CUM = (1, 2, 3, 4, 6), (62, 84, 93, 97, 100)
RED_PACKET_MINUTES = ((0, 3), (186, 196))  # red packets fly at the open and in the rain
# The 13:00 slump (docs/stimulus.md, "The simulator's day"): it starts at SLUMP_AT
# minutes after doors-open and, with no stimulus, gets back by itself only to
# SLUMP_SELF_RECOVERY of its former rate; the rest of the gap closes with this time
# constant (minutes) over the afternoon.
SLUMP_AT = 177
SLUMP_SELF_RECOVERY = 0.6
SLUMP_GAP_MINUTES = 30


def _bump(m: float, at: float, height: float, decay: float) -> float:
    """A wave that rises over two minutes from `at`, then decays exponentially."""
    if m < at:
        return 0.0
    return height * min(1.0, (m - at + 1) / 2) * math.exp(-(m - at) / decay)


def slump_dip(minute: float) -> float:
    """The share of the order rate the 13:00 slump takes away, by itself (no stimulus):
    it sets in at ~12:57 down to 8% of the rate, recovers at ~13:13 to
    `SLUMP_SELF_RECOVERY` of its former rate, and the remaining gap closes slowly over
    the afternoon (time constant `SLUMP_GAP_MINUTES`)."""
    m = minute
    onset = 1 / (1 + math.exp(-(m - SLUMP_AT) / 3))
    back = 1 / (1 + math.exp(-(m - SLUMP_AT - 16) / 3))
    gap = (1 - SLUMP_SELF_RECOVERY) * math.exp(-max(0.0, m - SLUMP_AT - 18) / SLUMP_GAP_MINUTES)
    return onset * (0.92 * (1 - back) + gap * back)


def intensity(minute: float) -> float:
    """Relative order rate `minute` campaign minutes after doors-open (1.0 = a normal
    hour), with no stimulus: a fire's lift comes on top (`lift_orders`). Locust's
    FlashSaleShape follows the same curve."""
    if not 0 <= minute < SALE_MINUTES:
        return 0.0
    m = minute
    base = 1.0 - 0.15 * min(1.0, m / 150)
    rush = 0.7 / (1 + math.exp(-(m - 395) / 6))  # the last half hour: 最后冲刺
    waves = _bump(m, 0, 4.2, 14) + _bump(m, 120, 2.0, 16)
    return max(0.05, (base + waves) * (1 - slump_dip(m)) + rush)


def _cumulative(values: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(values))


def _pick(rng: random.Random, cum: Sequence[float], upto: int | None = None) -> int:
    """Index drawn with weights given as a cumulative list (optionally a prefix of it)."""
    top = cum[-1] if upto is None else cum[upto - 1]
    return bisect.bisect(cum, rng.random() * top, 0, len(cum) if upto is None else upto)


@dataclass
class Pool:
    """People of one group who may act, by join time, with cumulative weights."""

    joins: list[int] = field(default_factory=list)
    cum: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def add(self, at: int, weight: float, ident: str) -> None:
        self.joins.append(at)
        self.cum.append((self.cum[-1] if self.cum else 0.0) + weight)
        self.ids.append(ident)

    def draw(self, rng: random.Random, ts: int) -> str | None:
        k = bisect.bisect(self.joins, ts)  # only who has joined by then
        return self.ids[_pick(rng, self.cum, k)] if k else None


@dataclass
class Sale:
    """`timeline`: (arrival on the campaign clock, wire event) in arrival order;
    `expected`: the totals the generator counted while building it."""

    start_ms: int
    timeline: list[tuple[int, dict[str, Any]]]
    expected: dict[str, int] = field(default_factory=dict)
    seed: int = 520
    id_prefix: str = ""

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for _, e in self.timeline]


class _Builder:
    """The generation steps of one sale, sharing the random source and the timeline."""

    def __init__(self, start_ms: int, seed: int, scale: float, prefix: str) -> None:
        self.rng, self.p, self.scale = random.Random(seed), prefix, scale
        self.start, self.end = start_ms, start_ms + SALE_MINUTES * MIN
        self.out: list[tuple[int, dict[str, Any]]] = []
        self.seq = itertools.count(1)
        self.groups = [(f"g{i + 1:02d}", name, i // 2) for i, name in enumerate(GROUP_NAMES)]
        # A seller's first group is the bigger one; group size follows the seller's pull.
        self.size = [SELLERS[i // 2][1] * (0.4 if i % 2 else 0.6) for i in range(len(GROUP_NAMES))]
        self.size_cum = _cumulative(self.size)
        self.groups_of: dict[str, set[int]] = {}
        self.buyers_of = [Pool() for _ in self.groups]
        self.talkers_of = [Pool() for _ in self.groups]

    def member(self, at: int, gi: int, mid: str, action: str) -> None:
        ev: dict[str, Any] = {"type": "member", "event_id": f"{self.p}mem{next(self.seq):07d}"}
        ev.update(group_id=self.groups[gi][0], member_id=mid, action=action, ts=at)
        self.out.append((at, ev))
        mine = self.groups_of.setdefault(mid, set())
        mine.add(gi) if action == "join" else mine.discard(gi)

    def message(self, at: int, gid: str, mid: str, kind: str) -> dict[str, Any]:
        ev: dict[str, Any] = {"type": "message", "message_id": f"{self.p}msg{next(self.seq):07d}"}
        ev.update(group_id=gid, member_id=mid, ts=at, kind=kind)
        self.out.append((at, ev))
        return ev

    def people(self) -> list[tuple[int, int, str]]:
        """Most were pulled into the groups before doors-open (拉群预热), the rest within
        the first half hour, a trickle all day; a few follow a second group."""
        rng, start = self.rng, self.start
        people = []
        for i in range(max(30, round(MEMBERS * self.scale))):
            r = rng.random()
            if r < 0.55:
                at = start - 1 - rng.randrange(120 * MIN)
            elif r < 0.85:
                at = start + int(rng.expovariate(1 / (8 * MIN))) % (30 * MIN)
            else:
                at = start + rng.randrange(30 * MIN, 390 * MIN)
            people.append((at, _pick(rng, self.size_cum), f"{self.p}u{i + 1:05d}"))
        people.sort()
        for at, gi, mid in people:
            self.member(at, gi, mid, "join")
            if rng.random() < 0.07 and (other := _pick(rng, self.size_cum)) != gi:
                self.member(rng.randrange(max(at, start), self.end - MIN), other, mid, "join")
            if rng.random() < 0.77:  # ~77% will pay, some of them again and again
                self.buyers_of[gi].add(at, rng.lognormvariate(0, 0.8), mid)
            if rng.random() < 0.65:  # the others only read
                self.talkers_of[gi].add(at, rng.lognormvariate(0, 1.0), mid)
        return people

    def orders(self) -> list[dict[str, Any]]:
        """Orders until the gross GMV target: the minute follows `intensity` (with some
        per-minute noise), the group the pull of its seller before or after 13:00."""
        rng, groups = self.rng, self.groups
        minute_cum = _cumulative(intensity(m) * rng.lognormvariate(0, 0.12) for m in range(420))
        pulls = [
            _cumulative(w * STYLES[SELLERS[g[2]][2]][half] for w, g in zip(self.size, groups))  # noqa: B905
            for half in (0, 1)
        ]
        product_cum, qty_cum = _cumulative(w for *_, w in PRODUCTS), list(QTY_CUM)
        orders: list[dict[str, Any]] = []
        gmv = 0
        while gmv < GMV_TARGET_FEN * self.scale:
            minute = _pick(rng, minute_cum)
            ts = self.start + minute * MIN + rng.randrange(MIN)
            gi = _pick(rng, pulls[minute >= 180])
            buyer = self.buyers_of[gi].draw(rng, ts)
            if buyer is None:
                continue  # nobody in this group yet: the order goes to another one
            pi, qty = _pick(rng, product_cum), QUANTITIES[_pick(rng, qty_cum)]
            gid, gname, si = groups[gi]
            o: dict[str, Any] = {
                "type": "order", "order_id": f"{self.p}o{len(orders) + 1:07d}",
                "amount_fen": PRODUCTS[pi][1] * qty, "seller_id": f"s{si + 1:02d}",
                "group_id": gid, "buyer_id": buyer, "product_id": f"p{pi + 1:02d}", "ts": ts,
                "quantity": qty, "seller_name": SELLERS[si][0], "group_name": gname,
                "product_name": PRODUCTS[pi][0],
            }  # fmt: skip
            orders.append(o)
            gmv += o["amount_fen"]
        return orders

    def deliver(self, orders: list[dict[str, Any]]) -> int:
        """Put orders on the timeline with what follows them: ~2% refunded (some whole,
        some partly, a few claimed twice, some overtaking their late order), re-sends,
        screenshots (晒单). Returns the refunded fen after the per-order cap."""
        rng, refund_fen = self.rng, 0
        for o in orders:
            ts, amount, arrival = o["ts"], o["amount_fen"], o["ts"]
            late = rng.random() < 0.15  # the refund overtakes its order (drawn for every order)
            gap = rng.randrange(10_000, 60_000) if late else int(rng.expovariate(1 / (40 * MIN)))
            if rng.random() < 0.02 and ts + gap < self.end - 3 * MIN:
                part = max(1, amount * rng.randrange(30, 71) // 100)
                claims = [amount if rng.random() < 0.75 else part]
                if rng.random() < 0.08:
                    claims.append(amount)  # claimed twice: the cap keeps the order at zero
                for k, fen in enumerate(claims):
                    at = ts + gap + k * 30_000
                    ev = {"type": "refund", "refund_id": f"{self.p}r{next(self.seq):07d}"}
                    ev.update(order_id=o["order_id"], amount_fen=fen, ts=at)
                    self.out.append((at, ev))
                refund_fen += min(sum(claims), amount)
                if late:  # the order's own event reaches us a minute or two after the refund
                    arrival = ts + gap + rng.randrange(40_000, 120_000)
            self.out.append((arrival, o))
            if rng.random() < 0.005:  # an at-least-once sender re-sends now and then
                self.out.append((arrival + rng.randrange(1000, 30_000), o))
            if rng.random() < 0.25:
                at = min(self.end - 1, ts + rng.randrange(5000, 90_000))
                self.message(at, o["group_id"], o["buyer_id"], "order_screenshot")
        return refund_fen

    def chat(self) -> None:
        """Less peaky than orders; red packets fly at the open and in the afternoon rain."""
        rng = self.rng
        chat_cum = _cumulative(0.5 + 0.5 * intensity(m) for m in range(420))
        for _ in range(round(6 * MEMBERS * self.scale)):
            minute = _pick(rng, chat_cum)
            at = self.start + minute * MIN + rng.randrange(MIN)
            gi = _pick(rng, self.size_cum)
            sender = self.talkers_of[gi].draw(rng, at)
            if sender is None:
                continue
            rain = any(a <= minute < b for a, b in RED_PACKET_MINUTES)
            r = rng.random()
            kind = "red_packet" if r < (0.6 if rain else 0.03) else "image" if r < 0.2 else "text"
            ev = self.message(at, self.groups[gi][0], sender, kind)
            if rng.random() < 0.003:
                self.out.append((at + rng.randrange(1000, 20_000), ev))


def generate_sale(start_ms: int, seed: int = 520, scale: float = 1.0, id_prefix: str = "") -> Sale:
    """The whole sale from doors-open at `start_ms` (events carry `ts` in epoch ms on
    the campaign clock). `scale` multiplies people, orders and messages (never sellers,
    groups or products); `id_prefix` keeps the identities of repeated sales apart."""
    b = _Builder(start_ms, seed, scale, id_prefix)
    people = b.people()
    orders = b.orders()
    refund_fen = b.deliver(orders)
    b.chat()
    buyers = {o["buyer_id"] for o in orders}
    for at, gi, mid in people:  # a few who never bought leave in the afternoon
        if mid not in buyers and gi in b.groups_of[mid] and b.rng.random() < 0.04:
            b.member(b.rng.randrange(max(at, start_ms) + MIN, b.end - MIN), gi, mid, "leave")
    b.out.sort(key=lambda item: item[0])  # stable: equal arrivals keep generation order
    gmv = sum(o["amount_fen"] for o in orders)
    talk = {e["message_id"]: e["member_id"] for _, e in b.out if e["type"] == "message"}
    expected = {
        "gmv_fen": gmv, "refund_fen": refund_fen, "net_gmv_fen": gmv - refund_fen,
        "orders": len(orders), "items": sum(o["quantity"] for o in orders),
        "buyers": len(buyers), "members": sum(1 for g in b.groups_of.values() if g),
        "messages": len(talk), "active_members": len(set(talk.values())),
    }  # fmt: skip
    return Sale(start_ms, b.out, expected, seed, id_prefix)


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


# Playing a sale through the public API -------------------------------------------------


# A batch sender: (events, stats, stop) -> None, raising on a refusal (post_batch's shape).
Sender = Callable[[list[dict[str, Any]], "PlayStats", asyncio.Event], Awaitable[None]]


@dataclass
class PlayStats:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


async def post_batch(
    client: httpx.AsyncClient, slug: str, ingest_token: str, events: list[dict[str, Any]],
    stats: PlayStats, stop: asyncio.Event,
) -> None:  # fmt: skip
    """POST one JSON array; retry on 429/5xx and dropped connections (re-sending is
    safe: each identity counts once). Any other refusal is a bug and raises."""
    headers = {"Authorization": f"Bearer {ingest_token}"}
    delay = 0.25
    while not stop.is_set():
        try:
            res = await client.post(
                f"/api/v1/campaigns/{slug}/events", json=events, headers=headers
            )
            stats.requests += 1
            if res.status_code == 202:
                body = res.json()
                stats.sent += len(events)
                stats.accepted += body["accepted"]
                stats.duplicates += body["duplicates"]
                stats.rejected += len(body["rejected"])
                return
            if res.status_code != 429 and res.status_code < 500:
                raise RuntimeError(f"ingest refused ({res.status_code}): {res.text[:300]}")
            log.warning("ingest answered %s; retrying in %.1fs", res.status_code, delay)
        except httpx.TransportError as exc:
            log.warning("ingest failed (%s); retrying in %.1fs", exc, delay)
        stats.retries += 1
        await _wait(stop, delay)
        delay = min(5.0, delay * 2)


async def play(
    client: httpx.AsyncClient, slug: str, ingest_token: str, sale: Sale, clock: CampaignClock,
    *, batch_max: int = 500, tick_s: float = 0.25, stop: asyncio.Event | None = None,
    send: Sender | None = None, stimulation: Stimulation | None = None,
) -> PlayStats:  # fmt: skip
    """Send each event once its arrival time has come on the campaign clock, everything
    due in one tick together (JSON arrays of at most `batch_max`). Falls behind
    gracefully: a slow server gets bigger batches, never a burst of tiny ones. `send`
    replaces the events API for each batch (the demo routes orders and members through
    its sources, demo_feeds.py); by default `post_batch`. `stimulation`: fires' lift
    orders join the timeline as they are received (the sale itself is not changed)."""
    stop = stop or asyncio.Event()

    async def events_api(
        chunk: list[dict[str, Any]], stats: PlayStats, stop: asyncio.Event
    ) -> None:
        await post_batch(client, slug, ingest_token, chunk, stats, stop)

    send = send or events_api
    stats, timeline, i = PlayStats(), list(sale.timeline), 0
    while i < len(timeline) and not stop.is_set():
        for item in stimulation.take() if stimulation else ():
            bisect.insort(timeline, item, lo=i, key=lambda t: t[0])
        due = bisect.bisect_right(timeline, clock.now_ms(real_now_ms()), lo=i, key=lambda t: t[0])
        while i < due and not stop.is_set():
            chunk = [e for _, e in timeline[i : min(due, i + batch_max)]]
            await send(chunk, stats, stop)
            i += len(chunk)
        if i < len(timeline):
            next_real = clock.real_ms_for(timeline[i][0])
            await _wait(stop, max(tick_s, (next_real - real_now_ms()) / 1000))
    return stats
