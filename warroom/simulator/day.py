"""The simulated day with no stimulus: sellers, groups, products and the day's shape
(the 10:00 spike, the 13:00 slump, the closing rush) as v1 events. Pure and
deterministic for a seed."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
