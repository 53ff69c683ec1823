"""`warroom demo`: the reference campaign, played at rehearsal speed against `serve`.

The supervisor (cli.py) has started the embedded Redis, the web and the worker
processes; here we wait for the web process, create the campaign, print where to
watch (the big screen and the host view), play the simulated sale through the public
API, and print the live figures and each battle report in the terminal as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import signal
from typing import Any

import httpx

from warroom.adapters.clock import real_now_ms
from warroom.core.ingest.clock import parse_instant, rfc3339
from warroom.core.ingest.money import format_wan
from warroom.core.reports.effect import Effect, effect_line
from warroom.demo_campaign import (
    TZ,
    CampaignExists,
    DemoCampaign,
    create_demo_campaign,
    demo_settings,
)
from warroom.demo_feeds import DemoFeeds, DemoSources, add_demo_sources
from warroom.simulator import (
    MIN,
    SALE_MINUTES,
    Fire,
    Lift,
    Sale,
    Stimulation,
    generate_sale,
    play,
    treated_of,
)

# Terminal escapes hidden in a chat name must not reach the operator's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# The `demo` command ----------------------------------------------------------------------


def run_demo(sup: Any, args: Any) -> int:
    """Called by cli.py once the supervisor runs; returns the exit code (0 on Ctrl-C)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request drowns the figures
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
            campaign = await _create(client, admin, slug, time_scale)
            sources = await _sources(client, admin, campaign)
            links = await _scoped_links(client, admin, campaign)
            pages = await _print_links(client, base, campaign, links, sources)
            await _print_owner(client, base, admin)
            sale = generate_sale(campaign.starts_at_ms)
            stimulation = Stimulation(sale)
            tasks = [
                asyncio.create_task(
                    _play(client, campaign, stop, failed, sources, sale, stimulation)
                ),
                asyncio.create_task(_report(client, campaign, stop, every_s=15 if pages else 3)),
                asyncio.create_task(_watch_fires(client, campaign, stimulation, stop)),
            ]
            await stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    watch_children.cancel()
    print("\n正在停止…", flush=True)
    return 1 if failed.is_set() else 0


async def _sources(
    client: httpx.AsyncClient, admin_token: str | None, c: DemoCampaign
) -> DemoSources | None:
    """The demo's WeCom source and shop push (demo_feeds.py); None if refused, and
    the sale then goes through the events API alone."""
    try:
        return await add_demo_sources(client, admin_token or "", c.slug)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"（未能创建演示数据来源，全部经事件 API 发送：{exc}）", flush=True)
        return None


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
            f"✅ 模拟数据已全部送达：{stats.accepted:,} 条事件，重复 {stats.duplicates}", flush=True
        )
        if feeds:
            f = feeds.feed
            print(
                f"   商城推送 {f.shop_pushes:,} 次（新订单 {f.shop_orders:,} 单）· "
                f"企业微信回调 {f.wecom_callbacks:,} 次（成员变动 {f.wecom_members:,} 条）· "
                f"事件 API {f.api_events:,} 条（退款、消息）",
                flush=True,
            )


# The simulator learns of fires ---------------------------------------------------------


def effect_windows(c: DemoCampaign) -> dict[str, int]:
    """Each rule's effect window (minutes), by rule name, from the demo's settings."""
    rules = demo_settings(c.slug, c.time_scale, c.starts_at_ms)["stimulus_rules"]
    return {r["name"]: r.get("effect_minutes") or r["window_minutes"] for r in rules}


DEFAULT_EFFECT_MINUTES = 10  # a fire of no known rule (by hand): a rule's default window


def fire_of(
    entry: dict[str, Any], assignment: dict[str, Any] | None, windows: dict[str, int]
) -> Fire:
    """A stimuli entry as the simulator takes it: its id and time, the effect window (the
    assignment's or the entry's `effect_minutes` when given, else its rule's), and the
    treated groups of its assignment (every group when there is none). The e2e test
    rebuilds the lifts with this, from the same API answers."""
    minutes = (assignment or {}).get("effect_minutes") or entry.get("effect_minutes")
    if not isinstance(minutes, int) or minutes < 1:
        minutes = windows.get(entry.get("rule") or "", DEFAULT_EFFECT_MINUTES)
    if assignment is None and isinstance(entry.get("assignment"), dict):
        assignment = entry["assignment"]
    return Fire(
        id=int(entry["id"]),
        at_ms=parse_instant(entry["at"]),
        effect_minutes=minutes,
        treated=treated_of(assignment),
        rule=str(entry.get("rule") or ""),
    )


def is_fired(entry: dict[str, Any]) -> bool:
    """A fire that happened (a proposal, dismissed or expired one never lifts sales)."""
    return bool(entry.get("status", "fired") == "fired")


async def _assignment(
    client: httpx.AsyncClient, c: DemoCampaign, fire_id: int, stop: asyncio.Event
) -> dict[str, Any] | None:
    """The fire's assignment (`…/stimuli/{id}/assignment`); None when there is no such
    route or fire (404). A failing server is asked again, a few times."""
    path = f"/api/v1/campaigns/{c.slug}/stimuli/{fire_id}/assignment"
    headers = {"Authorization": f"Bearer {c.viewer_token}"}
    for _ in range(10):
        try:
            res = await client.get(path, headers=headers)
        except httpx.HTTPError:
            res = None
        if res is not None and res.status_code == 200:
            body = res.json()
            return body if isinstance(body, dict) else None
        if res is not None and res.status_code in (404, 405):
            return None
        if stop.is_set():
            break
        await asyncio.sleep(0.5)
    return None


def lift_line(lift: Lift) -> str:
    """The terminal line when the simulator sees a fire: what it puts in."""
    f = lift.fire
    groups = f"处理组 {lift.treated_groups} 个" + (
        f"、对照组 {lift.holdout_groups} 个（不加）" if lift.holdout_groups else "（全部群）"
    )
    return (
        f"🧪 模拟器：「{clean(f.rule)}」{rfc3339(f.at_ms, TZ)[11:16]} 起 {f.effect_minutes} 分钟，"
        f"{groups}订单各 "
        f"+{lift.share:.0%}：注入 {len(lift.orders)} 单 {format_wan(lift.injected_fen)}"
        f"（预期增量 {format_wan(lift.expected_fen)}）"
    )


def effect_check_line(effect: dict[str, Any], lift: Lift) -> str:
    """The product's effect of a fire against what the simulator put in."""
    try:
        lo, hi = (int(v) for v in effect["ci90_fen"])
        e = Effect(
            method=effect["method"],
            treated_groups=int(effect["treated_groups"]),
            holdout_groups=int(effect["holdout_groups"]),
            incremental_gmv_fen=int(effect["incremental_gmv_fen"]),
            ci90_fen=(lo, hi),
            roi=effect.get("roi"),
            roi_ci90=tuple(effect["roi_ci90"]) if effect.get("roi_ci90") else None,
        )
    except (KeyError, TypeError, ValueError):
        return f"📐 效果「{clean(lift.fire.rule)}」：{clean(str(effect))[:200]}"
    covered = lo <= lift.injected_fen <= hi
    verdict = "✅ 区间覆盖" if covered else "❌ 区间未覆盖"
    return (
        f"📐 效果「{clean(lift.fire.rule)}」：{effect_line(e)} · "
        f"模拟器注入 {format_wan(lift.injected_fen)}：{verdict}"
    )


async def _watch_fires(
    client: httpx.AsyncClient,
    c: DemoCampaign,
    stimulation: Stimulation,
    stop: asyncio.Event,
) -> None:
    """Poll the stimuli every few campaign seconds (at most every 0.2 s real): each new
    fired entry becomes a lift in its treated groups (`Stimulation.receive`), and its
    effect, once the product has it, is printed against what was put in."""
    path = f"/api/v1/campaigns/{c.slug}/stimuli"
    headers = {"Authorization": f"Bearer {c.viewer_token}"}
    windows = effect_windows(c)
    every_s = max(0.2, min(1.0, 5 / c.time_scale))
    shown: set[int] = set()
    while not stop.is_set():
        try:
            res = await client.get(path, headers=headers)
            entries = res.json() if res.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            if not is_fired(entry):
                continue
            fid = int(entry["id"])
            if fid not in stimulation.lifts:
                assignment = await _assignment(client, c, fid, stop)
                lift = stimulation.receive(fire_of(entry, assignment, windows))
                if lift is not None:
                    print(lift_line(lift), flush=True)
            elif entry.get("effect") and fid not in shown:
                shown.add(fid)
                print(effect_check_line(entry["effect"], stimulation.lifts[fid]), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


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


def loop_time() -> float:
    return asyncio.get_running_loop().time()


async def _create(
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


DEMO_HOST_SELLER = "s01"  # the simulator's first seller (simulator.SELLERS)


async def _scoped_links(
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


async def _print_links(
    client: httpx.AsyncClient,
    base: str,
    c: DemoCampaign,
    links: dict[str, str] | None = None,
    sources: DemoSources | None = None,
) -> bool:
    """Print where to watch; answers whether the screens exist yet."""
    q = f"?token={c.viewer_token}"
    links = links or {}
    scoped = "".join(
        f"  {label}{links[name]}\n"
        for name, label in (
            ("wall", "大屏链接  "),
            ("masked", "隐藏金额  "),
            ("host", f"团长 {DEMO_HOST_SELLER}  "),
        )
        if name in links
    )
    feeds = (
        f"  企业微信  {sources.wecom_url}  （成员进群、退群：加密回调，同企业微信）\n"
        f"  商城推送  {sources.shop_url}  （订单：HMAC-SHA256 签名的 JSON）\n"
        if sources
        else ""
    )
    print(
        f"\n🎬 演示活动「{c.slug}」已创建：模拟 10:00–17:00 的社群秒杀，"
        f"{c.time_scale:g} 倍速（约 {SALE_MINUTES * 60 / c.time_scale / 60:.1f} 分钟）\n"
        f"{scoped}"
        f"  大屏      {base}/c/{c.slug}{q}\n"
        f"  主持人    {base}/c/{c.slug}/host{q}\n"
        f"  快照 API  {base}/api/v1/campaigns/{c.slug}/snapshot{q}\n"
        f"{feeds}"
        f"  写入令牌  {c.ingest_token}\n"
        "按 Ctrl-C 停止。\n",
        flush=True,
    )
    try:
        return (await client.get(f"/c/{c.slug}{q}", timeout=5)).status_code == 200
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


async def _print_owner(client: httpx.AsyncClient, base: str, admin_token: str) -> None:
    try:
        email, password = await create_demo_owner(client, admin_token)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"（未能创建运营台账号：{exc}）", flush=True)
        return
    print(
        f"🔑 运营台    {base}/admin\n  所有者邮箱  {email}\n  一次性密码  {password}\n",
        flush=True,
    )


def clean(text: str) -> str:
    return _CONTROL.sub("", text)


def figures_line(snap: dict[str, Any]) -> str:
    """One terminal line of the headline figures."""
    t, v = snap["totals"], snap["velocity"]
    medals = "🥇🥈🥉"
    top = "  ".join(
        f"{medals[i]}{clean(row['name'])} {format_wan(row['net_gmv_fen'])}"
        for i, row in enumerate(snap["leaderboards"]["sellers"][:3])
    )
    progress = snap["target"]["progress_base"] * 100
    return (
        f"[{snap['campaign']['now'][11:16]}] 成交 {format_wan(t['gmv_fen'])} "
        f"(目标 {progress:.1f}%) | 订单 {t['orders']:,} | 买家 {t['buyers']:,} | "
        f"速度 {format_wan(v['gmv_per_min_fen'])}/分 | {top}"
    )


async def _report(
    client: httpx.AsyncClient, c: DemoCampaign, stop: asyncio.Event, every_s: float
) -> None:
    """Figures every few seconds while the sale runs; every new battle report and
    stimulus in full; after the close, keep serving quietly until Ctrl-C."""
    path = f"/api/v1/campaigns/{c.slug}/snapshot"
    headers = {"Authorization": f"Bearer {c.viewer_token}"}
    seen_reports: set[int] = set()
    seen_fires: set[int] = set()
    last_line, closed = 0.0, False
    while not stop.is_set():
        try:
            res = await client.get(path, headers=headers)
            res.raise_for_status()
            snap = res.json()
        except httpx.HTTPError as exc:
            print(f"（读取快照失败：{exc}）", flush=True)
            await asyncio.sleep(every_s)
            continue
        for r in snap["reports"]:
            if r["id"] not in seen_reports:
                seen_reports.add(r["id"])
                print(f"\n📣 战报 [{r['kind']}]\n{clean(r['text'])}\n", flush=True)
                if r["kind"] == "final":
                    # the settled figures, read after the final was written: the same
                    print("🏁 收官数据", figures_line(snap), flush=True)
        for s in snap["stimuli"]:
            if s["id"] not in seen_fires:
                seen_fires.add(s["id"])
                print(
                    f"⚡ 刺激动作：{clean(s['text'])}（{format_wan(s['amount_fen'])}）", flush=True
                )
        if not closed and loop_time() - last_line >= every_s:
            last_line = loop_time()
            print(figures_line(snap), flush=True)
        if not closed and c.clock.now_ms(real_now_ms()) >= c.ends_at_ms + 2 * MIN:
            closed = True
            print(figures_line(snap), "\n🏁 活动已结束；服务继续运行，按 Ctrl-C 退出。", flush=True)
        await asyncio.sleep(1.0)
