"""The demo's setup through the public API, and where to watch: the campaign (a fresh
slug if a previous demo took it), its sources, its scoped links, the console's owner,
and the links printed in the terminal (screens, host, console, review, API)."""

from __future__ import annotations

import secrets

import httpx

from warroom.demo_campaign import CampaignExists, DemoCampaign, create_demo_campaign
from warroom.demo_feeds import DemoSources, add_demo_sources
from warroom.simulator import SALE_MINUTES

DEMO_HOST_SELLER = "s01"  # the simulator's first seller (simulator.SELLERS)


async def create(
    client: httpx.AsyncClient, admin_token: str, slug: str, time_scale: float
) -> DemoCampaign:
    """The slug as asked; if a previous demo took it, a fresh suffix."""
    candidate = slug
    for _ in range(5):
        try:
            return await create_demo_campaign(client, admin_token, candidate, time_scale)
        except CampaignExists:
            candidate = f"{slug}-{secrets.token_hex(2)}"
    raise RuntimeError(f"could not find a free slug near {slug!r}")


async def add_sources(
    client: httpx.AsyncClient, admin_token: str | None, c: DemoCampaign
) -> DemoSources | None:
    """The demo's WeCom source and shop push (demo_feeds.py); None if refused, and
    the sale then goes through the events API alone."""
    try:
        return await add_demo_sources(client, admin_token or "", c.slug)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"（未能创建演示数据来源，全部经事件 API 发送：{exc}）", flush=True)
        return None


async def scoped_links(
    client: httpx.AsyncClient, admin_token: str | None, c: DemoCampaign
) -> dict[str, str]:
    """A wall link, a masked wall link and one host's link (contract v3), by the API
    (their URLs start with WARROOM_PUBLIC_URL when it is set). Empty if refused."""
    wanted = {
        "wall": {"kind": "wall", "masked": False, "label": "演示大屏"},
        "masked": {"kind": "wall", "masked": True, "label": "演示大屏（隐藏金额）"},
        "host": {"kind": "host", "seller_id": DEMO_HOST_SELLER, "label": "演示团长"},
    }
    out: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {admin_token}"}
    for name, body in wanted.items():
        try:
            res = await client.post(f"/api/v1/campaigns/{c.slug}/links", json=body, headers=headers)
        except httpx.HTTPError:
            continue
        if res.status_code == 201:
            out[name] = res.json()["url"]
    return out


def links_text(base: str, c: DemoCampaign, links: dict[str, str], feeds: DemoSources | None) -> str:
    """Where to watch: the scoped links, then the pages by the viewer token, the
    campaign's console page and its review (复盘, live while the sale runs)."""
    q = f"?token={c.viewer_token}"
    scoped = "".join(
        f"  {label}{links[name]}\n"
        for name, label in (
            ("wall", "大屏链接  "),
            ("masked", "隐藏金额  "),
            ("host", f"团长 {DEMO_HOST_SELLER}  "),
        )
        if name in links
    )
    pushed = (
        f"  企业微信  {feeds.wecom_url}  （成员进群、退群：加密回调，同企业微信）\n"
        f"  商城推送  {feeds.shop_url}  （订单：HMAC-SHA256 签名的 JSON）\n"
        if feeds
        else ""
    )
    return (
        f"\n🎬 演示活动「{c.slug}」已创建：模拟 10:00–17:00 的社群秒杀，"
        f"{c.time_scale:g} 倍速（约 {SALE_MINUTES * 60 / c.time_scale / 60:.1f} 分钟）\n"
        f"{scoped}"
        f"  大屏      {base}/c/{c.slug}{q}\n"
        f"  主持人    {base}/c/{c.slug}/host{q}\n"
        f"  运营台    {base}/admin/c/{c.slug}\n"
        f"  复盘      {base}/c/{c.slug}/review{q}\n"
        f"  快照 API  {base}/api/v1/campaigns/{c.slug}/snapshot{q}\n"
        f"{pushed}"
        f"  写入令牌  {c.ingest_token}\n"
        "按 Ctrl-C 停止。\n"
    )


async def print_links(
    client: httpx.AsyncClient,
    base: str,
    c: DemoCampaign,
    links: dict[str, str] | None = None,
    feeds: DemoSources | None = None,
) -> bool:
    """Print where to watch; answers whether the screens exist yet."""
    print(links_text(base, c, links or {}, feeds), flush=True)
    try:
        return (
            await client.get(f"/c/{c.slug}?token={c.viewer_token}", timeout=5)
        ).status_code == 200
    except httpx.HTTPError:
        return False


async def create_demo_owner(client: httpx.AsyncClient, admin_token: str) -> tuple[str, str]:
    """An owner to sign in to the console with: (email, one-time password). A previous
    demo's owner (same data directory) keeps its address; this one gets a suffix."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    email = "owner@demo.local"
    for _ in range(5):
        res = await client.post(
            "/api/v1/users", json={"email": email, "role": "owner"}, headers=headers
        )
        if res.status_code == 201:
            return email, res.json()["password"]
        if res.status_code != 409:
            raise RuntimeError(
                f"could not add the demo owner ({res.status_code}): {res.text[:300]}"
            )
        email = f"owner-{secrets.token_hex(2)}@demo.local"
    raise RuntimeError("could not find a free demo owner address")


async def print_owner(client: httpx.AsyncClient, base: str, admin_token: str) -> None:
    try:
        email, password = await create_demo_owner(client, admin_token)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"（未能创建运营台账号：{exc}）", flush=True)
        return
    print(
        f"🔑 运营台登录  {base}/admin\n  所有者邮箱  {email}\n  一次性密码  {password}\n",
        flush=True,
    )
