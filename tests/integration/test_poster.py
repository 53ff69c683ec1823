"""Report posters: real PNGs that decode, fit the limits, and in masked mode draw no
money (checked on the strings handed to the renderer)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import orjson
import pytest
from PIL import Image

from tests.conftest import Harness, clean_settings, harness_for
from warroom.adapters.outbound.poster import CANDIDATES, find_font
from warroom.web.pages.review import poster_inputs

MILESTONE = """🎉 双十一社群快闪 突破 ¥50万！开场 56分钟 达成
💰 成交 ¥50.4万 ｜ 📦 1680 单 ｜ 👥 1232 人下单
🥇 团长甲<script> ¥12.6万
🥈 宝妈团‮长团 ¥10.08万
🥉 {{7*7}} ¥9,070.5
🔥 距基础目标 ¥100万 还差 ¥49.6万，一起冲！
👉 还没下单的家人抓紧，好货不等人！"""
FINAL = """🏁 双十一社群快闪 圆满收官！总成交 ¥177.98万
🎯 基础目标 ¥100万 完成 178.0%
📦 5932 单 ｜ 👥 4239 人下单 ｜ 客单价 ¥417.03
🥇 团长榜：团长甲、团长乙、团长丙
👑 社群榜：宝妈团1群、2群
🗓 10:23 破¥10万 → 11:59 破¥50万
🙏 感谢各位团长！复盘数据随后发出，我们下次再战！"""
MONEY = re.compile(r"[¥￥]\s?\d|\d\s*万|\d\s*元|612,345|612345|61\.23")

needs_font = pytest.mark.skipif(
    not any(Path(c).is_file() for c in CANDIDATES),
    reason="no CJK font (apt-get install fonts-noto-cjk)",
)


async def _reports(h: Harness) -> tuple[dict[str, str], list[int]]:
    c = await h.create_campaign()
    rt = h.runtime
    record = rt.store.get_campaign("sale")
    memo = {
        "at": "2026-11-11T10:56:00+08:00",
        "gmv_fen": 61_234_500,
        "orders": 1680,
        "buyers": 1232,
    }
    ids = [
        rt.reports.claim_report(record.id, "milestone:50000000", "milestone",
                                record.settings.starts_at + 56 * 60_000, MILESTONE,
                                orjson.dumps(memo).decode()).id,
        rt.reports.claim_report(record.id, "final", "final", record.settings.ends_at, FINAL,
                                orjson.dumps({**memo, "gmv_fen": 177_980_000}).decode()).id,
    ]  # fmt: skip
    return c, ids


@needs_font
async def test_posters_decode_fit_and_mask(harness: Harness, tmp_path: Path) -> None:
    h = harness
    c, ids = await _reports(h)
    auth = {"Authorization": f"Bearer {c['viewer_token']}"}
    for rid in ids:
        for mask in ("", "?mask=1"):
            res = await h.client.get(
                f"/api/v1/campaigns/sale/reports/{rid}/poster.png{mask}", headers=auth
            )
            assert res.status_code == 200, res.text
            assert res.headers["content-type"] == "image/png"
            assert len(res.content) < 2 * 1024 * 1024
            img = Image.open(io.BytesIO(res.content))
            img.load()
            assert img.format == "PNG" and img.width >= 750 and img.height > img.width
            (tmp_path / f"poster-{rid}{'-m' if mask else ''}.png").write_bytes(res.content)

    record = h.runtime.store.get_campaign("sale")
    rows = {r.id: r for r in h.runtime.reports.reports(record.id)}
    for rid in ids:
        masked = poster_inputs(record, rows[rid], mask=True).strings()
        assert masked and not [s for s in masked if MONEY.search(s)], masked
        shown = poster_inputs(record, rows[rid], mask=False)
        assert any("¥" in s for s in shown.strings())  # the unmasked one does show money
    spec = poster_inputs(record, rows[ids[0]], mask=False)
    assert spec.big_number == "¥61.23万"
    assert [t.split(" ")[0] for t in spec.top3] == ["团长甲<script>", "宝妈团长团", "{{7*7}}"]
    assert spec.cta.startswith("还没下单")
    assert poster_inputs(record, rows[ids[0]], mask=True).big_number == "61.2%"  # of ¥100万
    assert poster_inputs(record, rows[ids[1]], mask=False).top3 == ["团长甲", "团长乙", "团长丙"]

    res = await h.client.get(f"/api/v1/campaigns/sale/reports/{ids[0]}/poster.png")
    assert res.status_code == 401
    res = await h.client.get("/api/v1/campaigns/sale/reports/99999/poster.png", headers=auth)
    assert res.status_code == 404


async def test_without_a_font_the_answer_is_503_with_the_text(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = clean_settings(
        redis_url, database_url, tmp_path, warroom_poster_font=str(tmp_path / "none.ttc")
    )
    async with harness_for(settings) as h:
        c, ids = await _reports(h)
        res = await h.client.get(
            f"/api/v1/campaigns/sale/reports/{ids[0]}/poster.png",
            headers={"Authorization": f"Bearer {c['viewer_token']}"},
        )
        assert res.status_code == 503
        body = res.json()
        assert "WARROOM_POSTER_FONT" in body["error"] and body["text"] == MILESTONE
    with pytest.raises(Exception, match="not a file"):
        find_font(str(tmp_path / "none.ttc"))


def test_wecom_image_message_carries_base64_and_md5() -> None:
    import base64
    import hashlib

    from warroom.adapters.outbound.poster import wecom_image

    png = b"\x89PNG\r\n\x1a\n" + b"x" * 100
    msg = wecom_image(png)
    assert msg["msgtype"] == "image"
    assert base64.b64decode(msg["image"]["base64"]) == png
    assert msg["image"]["md5"] == hashlib.md5(png).hexdigest()
    with pytest.raises(ValueError, match="2 MB"):
        wecom_image(b"x" * (2 * 1024 * 1024 + 1))
