"""One vocabulary: the page's one JS formatter, driven by the server's vocabulary
(warroom/web/pages/vocab.py), prints every figure exactly as Python does. Run in
Chromium on a real screen page (its modules, its JSON data block, its CSP)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import open_page
from tests.browser.live import Stack
from warroom.core.ingest.money import format_wan, format_yuan
from warroom.web.pages.screen_view import gap_wan, hm, pct
from warroom.web.pages.vocab import VOCAB, action_emoji, action_title, kind_label, mask_money, move

pytestmark = pytest.mark.asyncio(loop_scope="module")

FEN = [
    0, 1, 99, 100, 101, 12_345, 999_999, 1_000_000, 1_000_001, 1_005_000, 1_012_500,
    1_125_000, 1_135_000, 1_234_500, 1_351_000, 2_500_000, 9_999_999, 10_000_000,
    15_836_000, 22_345_600, 123_456_789, 10**11, -1, -150, -1_125_000, -2_500_000,
]  # fmt: skip
FRACTIONS = [0.0, 1.0, 0.5, 0.1225, 0.22345, 0.0005, 0.00125, 1 / 3, 2 / 3, 0.999, 1.5, -0.01]
ROWS = [{"rank": 1, "prev_rank": None}, {"rank": 2, "prev_rank": 5}, {"rank": 4, "prev_rank": 1},
        {"rank": 3, "prev_rank": 3}]  # fmt: skip
TEXTS = ["💰 累计成交 ¥2.5万，冲！", "¥158.36万\n+¥27 万 ¥1,234.5", "无金额", "￥ 12"]
TIMES = [None, "2026-11-11T10:05:00+08:00", "2026-11-11T23:59:59.500+00:00"]
KINDS = [*VOCAB["kinds"], "unknown"]
ACTIONS = [*VOCAB["actions"], "unknown"]

JS = """async (cases) => {
  const f = await import("/static/js/lib/format.js");
  return {
    wan: cases.fen.map((v) => f.wan(v)),
    wan_keep: cases.fen.map((v) => f.wan(v, 2, true)),
    yuan: cases.fen.map((v) => f.yuan(v)),
    gap: cases.fen.map((v) => f.gap(v)),
    num: cases.fen.map((v) => f.num(v)),
    pct: cases.fractions.map((v) => f.pct(v)),
    pct0: f.pct(null),
    move: cases.rows.map((r) => f.move(r)),
    mask: cases.texts.map((t) => f.maskMoney(t)),
    hm: cases.times.map((t) => f.hm(t)),
    kind: cases.kinds.map((k) => f.kindLabel(k)),
    title: cases.actions.map((k) => f.actionTitle(k)),
    emoji: cases.actions.map((k) => f.actionEmoji(k)),
  };
}"""


def kept_zeros(fen: int) -> str:
    """The headline's counter: format_wan without stripping zeros (keeps its shape)."""
    if abs(fen) < 1_000_000:
        return format_yuan(fen)
    return ("-" if fen < 0 else "") + f"¥{abs(fen) / 1_000_000:.2f}万"


async def test_js_formats_read_exactly_like_python(stack: Stack, browser: Any) -> None:
    c = await stack.create_campaign(slug="vocab")
    url = f"{stack.web.url}/c/vocab?token={c['viewer_token']}"
    context, w = await open_page(browser, url, viewport={"width": 1920, "height": 1080})
    try:
        page = w.page
        cases = {"fen": FEN, "fractions": FRACTIONS, "rows": ROWS, "texts": TEXTS,
                 "times": TIMES, "kinds": KINDS, "actions": ACTIONS}  # fmt: skip
        js = await page.evaluate(JS, cases)
        expected = {
            "wan": [format_wan(v) for v in FEN],
            "wan_keep": [kept_zeros(v) for v in FEN],
            "yuan": [format_yuan(v) for v in FEN],
            "gap": [gap_wan(v) for v in FEN],
            "num": [f"{v:,}" for v in FEN],
            "pct": [pct(v) for v in FRACTIONS],
            "pct0": pct(None),
            "move": [move(r) for r in ROWS],
            "mask": [mask_money(t) for t in TEXTS],
            "hm": [hm(t) for t in TIMES],
            "kind": [kind_label(k) for k in KINDS],
            "title": [action_title(k) for k in ACTIONS],
            "emoji": [action_emoji(k) for k in ACTIONS],
        }
        for key, want in expected.items():
            assert js[key] == want, (key, json.dumps([js[key], want], ensure_ascii=False))
        w.assert_clean()
    finally:
        await context.close()
