"""The demo's two sources (docs/sources.md), fed by the simulator as the platforms would.

`warroom demo` adds to its campaign a `wecom` source and a `mapped` source through the
sources API, then plays the simulated sale with `DemoFeeds.send` as the batch sender:

- **members** (join / leave) go to the WeCom source as `change_external_chat`
  callbacks, encrypted and signed as WeCom sends them (`core/sources/wecom.encrypt`,
  the product's own crypto run the other way);
- **orders** go to the mapped source as a shop's "order paid" push (`SHOP_PUSH`, this
  demo's own shape, not any real platform's), HMAC-SHA256 signed with a timestamp;
- everything else (refunds, messages) goes through the events API, as before.

The events recorded are the simulator's, with two differences the screens' totals do
not see: a member event's identity is WeCom's (`wecom:{ChatId}:{UpdateDetail}:
{CreateTime}:{member}`, not the simulator's `mem…`), and on a rehearsal a callback's
members are stamped on arrival (as for any WeCom source), so the joins the simulator
dates before doors-open (拉群预热) count in the opening minute. Orders are the same v1
events, field for field (ids, money, names, `ts`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from warroom.adapters.clock import real_now_ms
from warroom.core.sources import wecom
from warroom.simulator import PlayStats, post_batch

log = logging.getLogger(__name__)
PUSH_MAX_ORDERS = 200  # orders in one shop push (the hook takes bodies up to 512 KiB)
CALLBACK_MAX_MEMBERS = 200  # members in one WeCom MemChangeList
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-Shop-Signature", "X-Shop-Timestamp"

# The demo shop's "order paid" push (its own shape, documented in docs/sources.md):
#   {"event": "order.paid", "shop": "warroom-demo", "sent_at": <epoch ms>,
#    "orders": [{"tid", "paid_at" (epoch ms), "payment" (yuan, "198.00"),
#                "seller": {"id", "nick"}, "group": {"id", "name"}, "buyer": {"id"},
#                "item": {"sku_id", "title", "num"}}]}
SHOP_EVENT = "order.paid"
SHOP_MAPPING: dict[str, Any] = {
    "when": {"path": "$.event", "equals": SHOP_EVENT},
    "each": "$.orders[*]",
    "type": "order",
    "fields": {
        "order_id": "@.tid",
        "amount_fen": {"path": "@.payment", "scale": 100},
        "ts": "@.paid_at",
        "seller_id": "@.seller.id",
        "seller_name": "@.seller.nick",
        "group_id": "@.group.id",
        "group_name": "@.group.name",
        "buyer_id": "@.buyer.id",
        "product_id": "@.item.sku_id",
        "product_name": "@.item.title",
        "quantity": "@.item.num",
    },
}


def shop_config(secret: str) -> dict[str, Any]:
    return {
        "signature": {
            "scheme": "hmac-sha256",
            "header": SIGNATURE_HEADER,
            "timestamp_header": TIMESTAMP_HEADER,
            "secrets": [secret],
        },
        "events": [SHOP_MAPPING],
    }


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def shop_push(orders: list[dict[str, Any]], sent_at_ms: int) -> dict[str, Any]:
    """The shop's push for simulator orders (the mapping turns it back into them)."""
    return {
        "event": SHOP_EVENT,
        "shop": "warroom-demo",
        "sent_at": sent_at_ms,
        "orders": [
            {
                "tid": o["order_id"],
                "paid_at": o["ts"],
                "payment": yuan(o["amount_fen"]),
                "seller": {"id": o["seller_id"], "nick": o["seller_name"]},
                "group": {"id": o["group_id"], "name": o["group_name"]},
                "buyer": {"id": o["buyer_id"]},
                "item": {
                    "sku_id": o["product_id"],
                    "title": o["product_name"],
                    "num": o["quantity"],
                },
            }
            for o in orders
        ],
    }


def sign_push(secret: str, body: bytes, timestamp: str) -> str:
    """docs/sources.md, "The mapped signature scheme": HMAC-SHA256 of timestamp.body."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


# -- WeCom -------------------------------------------------------------------------------


def random_wecom_config() -> wecom.WeComConfig:
    """A token and an EncodingAESKey as WeCom's 随机获取 makes them (letters and digits)."""
    alnum = string.ascii_letters + string.digits
    token = "".join(secrets.choice(alnum) for _ in range(32))
    while True:  # 32 random bytes whose base64 happens to have no + or /: a few tries
        key = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        if key.isalnum():
            break
    return wecom.WeComConfig(
        corp_id=f"ww-demo-{secrets.token_hex(6)}", token=token, encoding_aes_key=key
    )


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def member_change_xml(
    corp_id: str, chat_id: str, detail: str, create_time: int, members: list[str]
) -> bytes:
    """A decrypted `change_external_chat` callback (WeCom's 客户群变更事件, update)."""
    scene = "<JoinScene>3</JoinScene>" if detail == "add_member" else "<QuitScene>0</QuitScene>"
    items = "".join(f"<Item>{_cdata(m)}</Item>" for m in members)
    return (
        f"<xml><ToUserName>{_cdata(corp_id)}</ToUserName>"
        f"<FromUserName>{_cdata('sys')}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        f"<MsgType>{_cdata('event')}</MsgType><Event>{_cdata('change_external_chat')}</Event>"
        f"<ChatId>{_cdata(chat_id)}</ChatId><ChangeType>{_cdata('update')}</ChangeType>"
        f"<UpdateDetail>{_cdata(detail)}</UpdateDetail>{scene}"
        f"<MemChangeCnt>{len(members)}</MemChangeCnt><MemChangeList>{items}</MemChangeList>"
        "</xml>"
    ).encode()


def wecom_request(
    cfg: wecom.WeComConfig, plain: bytes, timestamp: str, nonce: str
) -> tuple[dict[str, str], bytes]:
    """The query string and the body of WeCom's POST for a message: encrypted with the
    product's own `encrypt`, signed with its `msg_signature`."""
    encrypted = wecom.encrypt(cfg, plain, secrets.token_bytes(16))
    params = {
        "msg_signature": wecom.msg_signature(cfg.token, timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    body = (
        f"<xml><ToUserName>{_cdata(cfg.corp_id)}</ToUserName>"
        f"<AgentID>{_cdata('')}</AgentID><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    ).encode()
    return params, body


def member_callbacks(events: list[dict[str, Any]]) -> Iterator[tuple[str, str, int, list[str]]]:
    """(ChatId, UpdateDetail, CreateTime, members) for a batch of simulator member
    events: one callback per group and change, all joins before all leaves (a member's
    leave in a group always follows their join there), CreateTime the latest event's
    second on the campaign clock."""
    for action, detail in (("join", "add_member"), ("leave", "del_member")):
        by_group: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            if e["action"] == action:
                by_group.setdefault(e["group_id"], []).append(e)
        for group, evs in by_group.items():
            for i in range(0, len(evs), CALLBACK_MAX_MEMBERS):
                part = evs[i : i + CALLBACK_MAX_MEMBERS]
                yield (
                    group,
                    detail,
                    max(e["ts"] for e in part) // 1000,
                    [e["member_id"] for e in part],
                )


# -- creating the sources and feeding them -------------------------------------------------


@dataclass(frozen=True)
class DemoSources:
    wecom_id: str
    wecom_url: str
    wecom_cfg: wecom.WeComConfig
    shop_id: str
    shop_url: str
    shop_secret: str


async def add_demo_sources(client: httpx.AsyncClient, admin_token: str, slug: str) -> DemoSources:
    """Both sources, by the sources API (admin token); raises RuntimeError if refused."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    cfg, secret = random_wecom_config(), secrets.token_hex(24)
    made = []
    for body in (
        {"kind": "wecom", "name": "演示·企业微信客户群", "config": cfg.model_dump()},
        {"kind": "mapped", "name": "演示·商城订单推送", "config": shop_config(secret)},
    ):
        res = await client.post(f"/api/v1/campaigns/{slug}/sources", json=body, headers=headers)
        if res.status_code != 201:
            raise RuntimeError(f"source refused ({res.status_code}): {res.text[:300]}")
        made.append(res.json())
    return DemoSources(made[0]["id"], made[0]["url"], cfg, made[1]["id"], made[1]["url"], secret)


@dataclass
class FeedStats:
    """Per path: the shop's pushes and the new orders they made (its 202 answers), the
    WeCom callbacks and their members (WeCom's answer is an empty 200), the events API."""

    shop_pushes: int = 0
    shop_orders: int = 0
    shop_duplicates: int = 0
    wecom_callbacks: int = 0
    wecom_members: int = 0
    api_events: int = 0
    api_by_type: dict[str, int] = field(default_factory=dict)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class DemoFeeds:
    """`send` for simulator.play: orders to the shop push, members to WeCom, the rest
    to the events API. Retries 429/5xx and dropped connections like `post_batch` (a
    re-sent push or callback is a duplicate); any other refusal raises."""

    def __init__(
        self, client: httpx.AsyncClient, slug: str, ingest_token: str, sources: DemoSources
    ) -> None:
        self.client, self.slug, self.ingest_token, self.src = client, slug, ingest_token, sources
        self.feed = FeedStats()

    async def send(
        self, chunk: list[dict[str, Any]], stats: PlayStats, stop: asyncio.Event
    ) -> None:
        orders = [e for e in chunk if e["type"] == "order"]
        members = [e for e in chunk if e["type"] == "member"]
        rest = [e for e in chunk if e["type"] not in ("order", "member")]
        for i in range(0, len(orders), PUSH_MAX_ORDERS):
            await self._push(orders[i : i + PUSH_MAX_ORDERS], stats, stop)
        for callback in member_callbacks(members):
            await self._callback(*callback, stats=stats, stop=stop)
        if rest:
            await post_batch(self.client, self.slug, self.ingest_token, rest, stats, stop)
            self.feed.api_events += len(rest)
            for e in rest:
                self.feed.api_by_type[e["type"]] = self.feed.api_by_type.get(e["type"], 0) + 1

    async def _push(
        self, orders: list[dict[str, Any]], stats: PlayStats, stop: asyncio.Event
    ) -> None:
        body = json.dumps(shop_push(orders, real_now_ms()), ensure_ascii=False).encode()

        def headers() -> dict[str, str]:  # signed at each try: the timestamp must be fresh
            ts = str(real_now_ms() // 1000)
            return {
                TIMESTAMP_HEADER: ts,
                SIGNATURE_HEADER: sign_push(self.src.shop_secret, body, ts),
                "Content-Type": "application/json",
            }

        res = await self._post(f"/hooks/{self.src.shop_id}", body, headers, {}, 202, stats, stop)
        if res is None:
            return
        answer = res.json()
        stats.sent += len(orders)
        stats.accepted += answer["accepted"]
        stats.duplicates += answer["duplicates"]
        stats.rejected += len(answer["rejected"])
        stats.requests += 1
        self.feed.shop_pushes += 1
        self.feed.shop_orders += answer["accepted"]
        self.feed.shop_duplicates += answer["duplicates"]

    async def _callback(
        self, chat: str, detail: str, created: int, members: list[str],
        *, stats: PlayStats, stop: asyncio.Event,
    ) -> None:  # fmt: skip
        cfg = self.src.wecom_cfg
        plain = member_change_xml(cfg.corp_id, chat, detail, created, members)
        params, body = wecom_request(cfg, plain, str(real_now_ms() // 1000), secrets.token_hex(8))
        xml = {"Content-Type": "text/xml"}
        res = await self._post(
            f"/hooks/{self.src.wecom_id}", body, lambda: xml, params, 200, stats, stop
        )
        if res is None:
            return
        stats.sent += len(members)
        stats.accepted += len(members)  # WeCom's answer carries no count; 200 is recorded
        stats.requests += 1
        self.feed.wecom_callbacks += 1
        self.feed.wecom_members += len(members)

    async def _post(
        self, path: str, body: bytes, headers: Any, params: dict[str, str], ok: int,
        stats: PlayStats, stop: asyncio.Event,
    ) -> httpx.Response | None:  # fmt: skip
        delay = 0.25
        while not stop.is_set():
            try:
                res = await self.client.post(path, content=body, headers=headers(), params=params)
                if res.status_code == ok:
                    return res
                if res.status_code != 429 and res.status_code < 500:
                    raise RuntimeError(f"{path} refused ({res.status_code}): {res.text[:300]}")
                log.warning("%s answered %s; retrying in %.1fs", path, res.status_code, delay)
            except httpx.TransportError as exc:
                log.warning("%s failed (%s); retrying in %.1fs", path, exc, delay)
            stats.retries += 1
            await _wait(stop, delay)
            delay = min(5.0, delay * 2)
        return None
