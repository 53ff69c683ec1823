"""The `demo` command: wait for the web process, set the campaign up, then play the
sale, print the figures and watch the fires until Ctrl-C (or a child dies)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import httpx

from warroom.demo.fires import watch_fires
from warroom.demo.links import add_sources, create, print_links, print_owner, scoped_links
from warroom.demo.terminal import loop_time, report
from warroom.demo_campaign import DemoCampaign
from warroom.demo_feeds import DemoFeeds, DemoSources
from warroom.simulator import Sale, Stimulation, generate_sale, play

# A line per request (httpx) or per socket (uvicorn's "connection open") drowns the
# figures; the demo's own children are quieted by cli.py (WARROOM_LOG_LEVEL=WARNING).
QUIET_IN_DEMO = ("httpx", "uvicorn", "uvicorn.error", "uvicorn.access")


def run_demo(sup: Any, args: Any) -> int:
    """Called by cli.py once the supervisor runs; returns the exit code (0 on Ctrl-C)."""
    for name in QUIET_IN_DEMO:
        logging.getLogger(name).setLevel(logging.WARNING)
    host = sup.host if sup.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    base = f"http://[{host}]:{sup.port}" if ":" in host else f"http://{host}:{sup.port}"
    try:
        return asyncio.run(_main(sup, base, args.slug, float(args.time_scale)))
    finally:
        # The supervisor stops the children next; a second Ctrl-C must not cut that short
        # and leave a redis-server behind (every wait in Supervisor.stop is bounded).
        signal.signal(signal.SIGINT, signal.SIG_IGN)


async def _main(sup: Any, base: str, slug: str, time_scale: float) -> int:
    stop, failed = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch_children = asyncio.create_task(_children(sup, stop, failed))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        if await _healthy(client, stop):
            admin = sup.settings.warroom_admin_token
            campaign = await create(client, admin, slug, time_scale)
            feeds = await add_sources(client, admin, campaign)
            links = await scoped_links(client, admin, campaign)
            pages = await print_links(client, base, campaign, links, feeds)
            await print_owner(client, base, admin)
            sale = generate_sale(campaign.starts_at_ms)
            stimulation = Stimulation(sale)
            tasks = [
                asyncio.create_task(
                    _play(client, campaign, stop, failed, feeds, sale, stimulation)
                ),
                asyncio.create_task(report(client, campaign, stop, every_s=15 if pages else 3)),
                asyncio.create_task(watch_fires(client, campaign, stimulation, stop)),
            ]
            await stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    watch_children.cancel()
    print("\n正在停止…", flush=True)
    return 1 if failed.is_set() else 0


async def _play(
    client: httpx.AsyncClient,
    c: DemoCampaign,
    stop: asyncio.Event,
    failed: asyncio.Event,
    sources: DemoSources | None = None,
    sale: Sale | None = None,
    stimulation: Stimulation | None = None,
) -> None:
    sale = sale or generate_sale(c.starts_at_ms)
    feeds = DemoFeeds(client, c.slug, c.ingest_token, sources) if sources else None
    send = feeds.send if feeds else None
    try:
        stats = await play(
            client, c.slug, c.ingest_token, sale, c.clock, stop=stop, send=send,
            stimulation=stimulation,
        )  # fmt: skip
    except Exception as exc:  # a refused batch is a bug worth stopping for
        print(f"模拟数据发送失败：{exc}", flush=True)
        failed.set()
        stop.set()
        return
    if not stop.is_set():
        print(
            f"✅ 模拟数据已全部送达：{stats.accepted:,} 条事件，重复 {stats.duplicates:,} 条",
            flush=True,
        )
        if feeds:
            f = feeds.feed
            print(
                f"   商城推送 {f.shop_pushes:,} 次（新订单 {f.shop_orders:,} 单）· "
                f"企业微信回调 {f.wecom_callbacks:,} 次（成员变动 {f.wecom_members:,} 条）· "
                f"事件 API {f.api_events:,} 条（退款、消息）",
                flush=True,
            )


async def _children(sup: Any, stop: asyncio.Event, failed: asyncio.Event) -> None:
    """A web or worker process that dies ends the demo with an error (unless we are
    already stopping: Ctrl-C in a terminal reaches the children as well)."""
    while not stop.is_set():
        dead = [c for c in sup.children if c.poll() is not None]
        if dead:
            await asyncio.sleep(0.5)
            if not stop.is_set():
                print(f"子进程已退出（{dead[0].args[3:]}），演示停止", flush=True)
                failed.set()
                stop.set()
            return
        await asyncio.sleep(0.5)


async def _healthy(client: httpx.AsyncClient, stop: asyncio.Event, limit_s: float = 60) -> bool:
    deadline = loop_time() + limit_s
    while not stop.is_set() and loop_time() < deadline:
        try:
            if (await client.get("/healthz", timeout=2)).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    if not stop.is_set():
        raise RuntimeError(f"the web process did not answer /healthz within {limit_s:.0f} s")
    return False
