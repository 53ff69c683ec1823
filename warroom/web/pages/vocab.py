"""The screens' one vocabulary: report kinds, action titles and emoji, rank-move
arrows, the money mask and the money formats' units. Templates print through it and
the pages hand it to their scripts as one JSON data block (`vocab_json`), so no script
keeps its own copy of a label or a rule; tests/browser/test_vocab.py checks that the
one JS money formatter, driven by these units, reads exactly like Python's."""

from __future__ import annotations

import re
from typing import Any

from warroom.core.ingest.money import FEN_PER_WAN, FEN_PER_YUAN
from warroom.core.reports.context import ACTION_EMOJI, ACTION_TITLES
from warroom.core.reports.schedule import KIND_LABELS

# Masked screens hide absolute money, also inside report texts: ¥158.36万, +¥27万, ¥1,234.5
MONEY_PATTERN = r"[¥￥][ \t]?[\d,]+(?:\.\d+)?[ \t]*万?"  # never eats a line break
MASKED_MONEY = "¥•••"
_MONEY = re.compile(MONEY_PATTERN)

ACTION_FALLBACK = {"title": "福利", "emoji": "📢"}
MOVES = {"new": "新", "up": "▲", "down": "▼", "same": "–"}
NONE = "—"  # a figure that does not exist (yet)

VOCAB: dict[str, Any] = {
    "money": {
        "symbol": "¥",
        "wan": "万",
        "fen_per_yuan": FEN_PER_YUAN,
        "fen_per_wan": FEN_PER_WAN,
        "wan_decimals": 2,
    },
    "pct_digits": 1,
    "none": NONE,
    "mask": {"pattern": MONEY_PATTERN, "replacement": MASKED_MONEY},
    "moves": MOVES,
    "kinds": KIND_LABELS,
    "actions": {k: {"title": ACTION_TITLES[k], "emoji": ACTION_EMOJI[k]} for k in ACTION_TITLES},
    "action_fallback": ACTION_FALLBACK,
}


def mask_money(text: str) -> str:
    return _MONEY.sub(MASKED_MONEY, text)


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def action_title(kind: str) -> str:
    return ACTION_TITLES.get(kind, ACTION_FALLBACK["title"])


def action_emoji(kind: str) -> str:
    return ACTION_EMOJI.get(kind, ACTION_FALLBACK["emoji"])


def move(row: dict[str, Any]) -> dict[str, str]:
    """A leaderboard row's move since the comparison window: 新, ▲n, ▼n or –."""
    prev, rank = row.get("prev_rank"), row["rank"]
    if prev is None:
        return {"cls": "new", "text": MOVES["new"]}
    if prev > rank:
        return {"cls": "up", "text": f"{MOVES['up']}{prev - rank}"}
    if prev < rank:
        return {"cls": "down", "text": f"{MOVES['down']}{rank - prev}"}
    return {"cls": "same", "text": MOVES["same"]}
