"""The screens' one vocabulary: campaign states, mark kinds, report kinds, action
titles and emoji, rank-move arrows, the money mask and the money formats' units.
Templates print through it and the pages hand it to their scripts as one JSON data
block (`vocab_json`), so no script keeps its own copy of a label or a rule; tests/browser/test_vocab.py checks that the
one JS money formatter, driven by these units, reads exactly like Python's."""

from __future__ import annotations

import re
from typing import Any

from warroom.core.ingest.money import FEN_PER_WAN, FEN_PER_YUAN
from warroom.core.reports.context import ACTION_EMOJI, ACTION_TITLES, NO_FIGURE
from warroom.core.reports.schedule import KIND_LABELS
from warroom.core.words import MARK_LABELS, STATE_LABELS

# Masked screens hide absolute money, also inside report texts: ¥158.36万, +¥27万, ¥1,234.5
MONEY_PATTERN = r"[¥￥][ \t]?[\d,]+(?:\.\d+)?[ \t]*万?"  # never eats a line break
MASKED_MONEY = "¥•••"
_MONEY = re.compile(MONEY_PATTERN)

STATES = STATE_LABELS  # a campaign's state: 未开始 / 进行中 / 已收官 (core/words.py)
MARKS = MARK_LABELS  # a mark's kind: 里程碑 / 基础目标 / 冲刺目标
ACTION_FALLBACK = {"title": "福利", "emoji": "📢"}
MOVES = {"new": "新", "up": "▲", "down": "▼", "same": "–"}
NONE = NO_FIGURE  # "—": a figure that does not exist (yet) or cannot be known
# Why a ratio reads NONE: its denominator is unknown, not zero. A campaign whose feed
# sends no member events has members 0: conversion and interaction (of the members)
# cannot be known, and 0.0% would be a figure that is not true.
UNKNOWN = {"members": "无成员数据"}

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
    "unknown": UNKNOWN,
    "mask": {"pattern": MONEY_PATTERN, "replacement": MASKED_MONEY},
    "moves": MOVES,
    "kinds": KIND_LABELS,
    "states": STATE_LABELS,
    "marks": MARK_LABELS,
    "actions": {k: {"title": ACTION_TITLES[k], "emoji": ACTION_EMOJI[k]} for k in ACTION_TITLES},
    "action_fallback": ACTION_FALLBACK,
}


def rate(fraction: float | None, den: int | None, digits: int = 1) -> str:
    """A ratio as the screens print it: NONE when its denominator is 0 or missing
    (unknown, not zero), else a percentage (`pct`). The JS twin is format.js `rate`."""
    if not den or fraction is None:
        return NONE
    return f"{fraction * 100:.{digits}f}%"


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
