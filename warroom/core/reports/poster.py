"""What a battle-report poster (战报海报) says, decided before any pixel is drawn. Pure.

Practitioners post a results image laid out as: the hook (headline), the big number,
the top three, a few facts, the call to action. All of it comes from the report as it
was written (its text and the figures stored with it), never recomputed, so the
poster cannot disagree with the text beside it.

Masked mode (`?mask=1`, for screens and posters shown outside the team) hides every
absolute amount of money: the big number becomes the progress to the base target (or
the order count), and money inside lines becomes ¥•••. `PosterSpec.strings()` is
exactly what the renderer draws, which is what the tests check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warroom.core.campaign import CampaignSettings
from warroom.core.ingest.clock import from_ms
from warroom.core.ingest.money import format_wan

MEDALS = ("🥇", "🥈", "🥉")
KIND_TITLES = {
    "milestone": "里程碑快报",
    "target_base": "目标达成",
    "target_stretch": "冲刺目标达成",
    "scheduled": "实时战报",
    "top": "TOP 榜单",
    "stimulus": "福利来袭",
    "final": "收官战报",
}
MASK = "¥•••"
_MONEY = re.compile(
    r"[¥￥]\s?[\d,]+(?:\.\d+)?\s*万?|\d[\d,]*(?:\.\d+)?\s*万(?:元)?|\d[\d,]*(?:\.\d+)?\s*元"
)
# Emoji and pictographs: the CJK font has no glyphs for them (they would print as
# boxes), so they are dropped; medals are drawn as shapes instead.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff\U0000fe00-\U0000fe0f"
    "\U0000200d\U000020e3\U000021a9\U000021aa\U00002300-\U000023ff]"
)
_SPACES = re.compile(r"[ \t\u3000]+")
# Bidi controls in a name would reverse the figures drawn after it: drop them.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_FACTS = 6
MAX_CHARS = 40


def mask_money(text: str) -> str:
    return _MONEY.sub(MASK, text)


def plain(text: str) -> str:
    """A line without emoji, bidi tricks folded into spaces, trimmed and bounded."""
    out = _SPACES.sub(" ", _EMOJI.sub(" ", _BIDI.sub("", text))).strip(" ｜|·")
    return out if len(out) <= MAX_CHARS else out[: MAX_CHARS - 1] + "…"


@dataclass(frozen=True)
class PosterSpec:
    kind_title: str
    campaign: str
    headline: str
    big_label: str
    big_number: str
    top3: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    cta: str = ""
    footer: str = ""

    def strings(self) -> list[str]:
        """Every string the renderer draws, in drawing order."""
        return [self.kind_title, self.campaign, self.headline, self.big_label,
                self.big_number, *self.top3, *self.facts, self.cta, self.footer]  # fmt: skip


def _top3(lines: list[str]) -> tuple[list[str], set[int]]:
    """The medal lines of a report (🥇 name ¥x), or the first honour-roll line of a
    final report (🥇 团长榜：a、b、c)."""
    picked: dict[int, str] = {}
    used: set[int] = set()  # each medal once: a second 🥇 line stays a fact
    for i, line in enumerate(lines):
        for n, medal in enumerate(MEDALS):
            if line.startswith(medal) and n not in used:
                body = line[len(medal) :].strip()
                if "榜：" in body or "榜:" in body:  # a final's honour roll: split names
                    names = re.split(r"[、,，]", re.split(r"榜[：:]", body, maxsplit=1)[1])
                    return [n.strip() for n in names if n.strip()][:3], {i}
                picked[i] = body
                used.add(n)
                break
    return list(picked.values())[:3], set(picked)


def poster_spec(
    kind: str,
    text: str,
    figures: Mapping[str, Any],
    campaign_name: str,
    at_text: str,
    base_fen: int,
    mask: bool,
) -> PosterSpec:
    """`figures`: what the report was written from (`gmv_fen`, `orders`, `buyers`; any
    may be missing in reports older than the figures)."""
    lines = [ln for ln in (x.strip() for x in text.splitlines()) if ln]
    headline = lines[0] if lines else KIND_TITLES.get(kind, "战报")
    cta = lines[-1] if len(lines) > 1 else ""
    top, used = _top3(lines)
    facts = [ln for i, ln in enumerate(lines[1:-1], start=1) if i not in used][:MAX_FACTS]
    gmv = figures.get("gmv_fen")
    orders = figures.get("orders")
    if mask:
        if base_fen and isinstance(gmv, int):
            big_label, big = "基础目标完成", f"{gmv / base_fen * 100:.1f}%"
        elif isinstance(orders, int):
            big_label, big = "累计订单", f"{orders:,} 单"
        else:
            big_label, big = "", ""
    elif isinstance(gmv, int):
        big_label, big = "累计成交", format_wan(gmv)
    else:
        big_label, big = "", ""

    def show(line: str) -> str:
        return plain(mask_money(line) if mask else line)

    return PosterSpec(
        kind_title=KIND_TITLES.get(kind, "战报"),
        campaign=show(campaign_name),
        headline=show(headline),
        big_label=big_label,
        big_number=big,
        top3=[show(t) for t in top],
        facts=[f for f in (show(x) for x in facts) if f],
        cta=show(cta),
        footer=f"{show(campaign_name)} · {at_text}",
    )


def report_poster_spec(
    settings: CampaignSettings,
    kind: str,
    text: str,
    memo: Mapping[str, Any] | None,
    at_ms: int,
    mask: bool,
) -> PosterSpec:
    """The poster of one stored report: `memo` is what was stored with it (contract v2
    keeps its figures under `figures`; older reports kept them at the top level)."""
    memo = memo or {}
    stored = memo.get("figures")
    figures: Mapping[str, Any] = stored if isinstance(stored, dict) else memo
    at = from_ms(at_ms, settings.timezone).strftime("%m-%d %H:%M")
    return poster_spec(kind, text, figures, settings.name, at, settings.target_base_fen, mask)
