"""Screenshots of the screens when their figures cannot be trusted (issue 8):

- `restoring.png` (big screen) and `restoring-host.png` (phone): the campaign's hot
  state is being restored; the screens say 数据恢复中 instead of showing zeros.
- `rule-held.png`: the order feed went dead 20 minutes ago; the stimulus rule is held
  and the big screen tells the operator so in a small corner badge.

    .venv/bin/python -m tests.browser.screenshots_trust [out_dir]   (default: docs/screens)

The restoring state is produced the way a viewer meets it: every snapshot frame the
server sends says `restoring: true` (rewritten on the socket, so the picture does not
depend on catching a real restore mid-way; the screens react to the flag alone).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.browser.browser import launch
from tests.browser.live import ROOT, iso, live_stack, order, shots_settings

RULE = {
    "name": "午后提神红包雨",
    "window_minutes": 10,
    "below_peak_ratio": 0.4,
    "sustain_minutes": 3,
    "cooldown_minutes": 60,
    "max_fires": 2,
    "action": {"kind": "red_packet_rain", "amount_fen": 500_000, "text": "整点红包雨！"},
}


def sale(starts: datetime, minutes: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for m in range(minutes):
        for k in range(25 - m // 4):
            ts = iso(starts + timedelta(minutes=m, seconds=2 * k))
            i = f"{m}-{k}"
            events.append(
                order(
                    i,
                    9_900 + 100 * (k % 7),
                    f"s{k % 6 + 1}",
                    seller_name=f"团长{k % 6 + 1}号",
                    buyer_id=f"b{m * 40 + k}",
                    ts=ts,
                )  # fmt: skip
            )
            events.append(
                {
                    "type": "message",
                    "message_id": f"m{i}",
                    "group_id": "g1",
                    "member_id": f"u{k}",
                    "ts": ts,
                }  # fmt: skip
            )
    return events


async def campaign(stack: Any, slug: str, starts: datetime, minutes_sold: int) -> str:
    created = await stack.create_campaign(
        slug=slug,
        name="双十一社群快闪 · 宠粉专场",
        starts_at=iso(starts),
        ends_at=iso(starts + timedelta(hours=7)),
        target_base_fen=10_000_000,
        target_stretch_fen=20_000_000,
        milestones_fen=[1_000_000, 3_000_000],
        report_every_minutes=30,
        stimulus_rules=[RULE],
    )
    await stack.post(slug, created["ingest_token"], sale(starts, minutes_sold))
    return str(created["viewer_token"])


def restoring_frames(message: str | bytes) -> str | bytes:
    if isinstance(message, bytes):
        return message
    frame = json.loads(message)
    if frame.get("type") in ("snapshot", "update"):
        frame["restoring"] = True
    return json.dumps(frame, ensure_ascii=False)


async def restoring_page(browser: Any, url: str, viewport: dict[str, int], scale: int = 1) -> Any:
    page = await browser.new_page(viewport=viewport, device_scale_factor=scale)

    async def handler(ws: Any) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda m: ws.send(restoring_frames(m)))
        ws.on_message(lambda m: server.send(m))

    await page.route_web_socket("**/ws/campaigns/**", handler)
    await page.goto(url)
    await page.wait_for_selector("html[data-seq]", state="attached")
    await page.wait_for_timeout(1200)
    return page


async def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with shots_settings("wr-trust-") as (settings, tmp):
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        async with live_stack(settings, tmp) as stack:
            live = await campaign(stack, "double11", now - timedelta(minutes=60), 60)
            dead = await campaign(stack, "outage", now - timedelta(minutes=60), 40)
            await asyncio.sleep(1.5)  # the aggregator drains
            async with launch() as browser:
                base = stack.web.url
                page = await restoring_page(
                    browser, f"{base}/c/double11?token={live}", {"width": 1920, "height": 1080}
                )
                await page.screenshot(path=str(out_dir / "restoring.png"))
                phone = await restoring_page(
                    browser,
                    f"{base}/c/double11/host?token={live}",
                    {"width": 390, "height": 844},
                    2,
                )
                await phone.screenshot(path=str(out_dir / "restoring-host.png"))
                held = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await held.goto(f"{base}/c/outage?token={dead}")
                await held.wait_for_selector("#ops-warn:not([hidden])")
                await held.wait_for_timeout(2500)
                await held.screenshot(path=str(out_dir / "rule-held.png"))
    print(f"screenshots in {out_dir}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens"
    asyncio.run(main(target))
