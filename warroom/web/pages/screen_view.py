"""What the screen templates print: formatting filters (the scripts format live figures
from the same vocabulary, warroom/web/pages/vocab.py) and the host's own-rank card."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment

from warroom.adapters.redis.board_position import around, board_size
from warroom.adapters.redis.hotstate import HotState
from warroom.core.ingest.money import format_wan, format_yuan
from warroom.core.live.snapshot import leaderboard, recent_from
from warroom.core.records import CampaignRecord
from warroom.core.reports.effect_view import effect_text
from warroom.services.campaigns import clock_of
from warroom.web.pages.vocab import (
    NONE,
    VOCAB,
    action_emoji,
    action_title,
    kind_label,
    mask_money,
    move,
    rate,
)

MAX_PICKER = 1000  # sellers offered in the host's picker


def pct(fraction: float | None, digits: int = 1) -> str:
    if fraction is None:
        return NONE
    return f"{fraction * 100:.{digits}f}%"


def share(fen: int, base_fen: int, total_fen: int) -> str:
    """Masked mode: a share of the base target (of the total when there is none)."""
    den = base_fen or total_fen
    return pct(fen / den if den else 0.0)


def gap_wan(fen: int) -> str:
    """A gap between two ranks: whole yuan (cents are noise from 5 m away)."""
    fen = int(fen or 0)
    return format_wan(fen - fen % 100)


def is_current(stimulus: dict[str, Any] | None, now: str, minutes: int = 30) -> bool:
    """A fire is the host's 'current' announcement for half an hour of campaign time."""
    if not stimulus:
        return False
    age = datetime.fromisoformat(now) - datetime.fromisoformat(stimulus["at"])
    return 0 <= age.total_seconds() <= minutes * 60


def hm(text: str | None) -> str:
    return datetime.fromisoformat(text).strftime("%H:%M") if text else NONE


def add_filters(env: Environment, static_dir: Path) -> None:
    def asset(path: str) -> str:
        try:
            version = int((static_dir / path).stat().st_mtime)
        except OSError:
            version = 0
        return f"/static/{path}?v={version}"

    env.filters.update(
        wan=lambda fen: format_wan(int(fen or 0)),
        yuan=lambda fen: format_yuan(int(fen or 0)),
        gap=gap_wan,
        pct=pct,
        rate=rate,  # a ratio: "—" when its denominator is unknown (members 0)
        num=lambda n: f"{int(n or 0):,}",
        hm=hm,
        move=move,
        mask_money=mask_money,
        kind_label=kind_label,
        action_title=action_title,
        action_emoji=action_emoji,
        effect_text=effect_text,  # a fire's effect with its interval (or pending)
    )
    env.globals.update(asset=asset, share=share, is_current=is_current, vocab=VOCAB)


async def seller_card(
    hot: HotState,
    record: CampaignRecord,
    seller_id: str | None,
    real_now_ms: int,
    picker: int = MAX_PICKER,
) -> dict[str, Any]:
    """The picker's sellers (the top `picker`), and the chosen one's rank, move and
    gaps: bounded reads, whatever the number of sellers."""
    s = record.settings
    now = clock_of(record).now_ms(real_now_ms)
    # the picker lists names and ranks only: no prev ranks (arrows) for its rows
    raw = await hot.read(s.slug, recent_from(now), top=picker, prev=False)
    scores = raw.boards.get("sellers", {})
    rows = leaderboard(
        scores,
        raw.board_orders.get("sellers", {}),
        raw.board_names.get("sellers", {}),
        {},
        len(scores),
        raw.board_prev.get("sellers", {}),
    )
    gen = raw.generation
    card: dict[str, Any] = {
        "options": [{"id": r["id"], "name": r["name"], "rank": r["rank"]} for r in rows],
        "chosen": seller_id,
        "seller": None,
        "count": await board_size(hot, s.slug, gen, "sellers") if gen is not None else 0,
    }
    if not seller_id or gen is None:
        return card
    await hot.prev.fold_to(s.slug, gen, recent_from(now), raw.minutes["gmv"])  # the arrow
    place = await around(hot, s.slug, gen, "sellers", seller_id)
    if place is None:
        return card
    found, above, below = place["row"], place["above"], place["below"]
    assert found is not None
    card.update(
        seller=found,
        above=above,
        gap_up_fen=above["net_gmv_fen"] - found["net_gmv_fen"] if above else None,
        lead_fen=found["net_gmv_fen"] - below["net_gmv_fen"] if below else None,
        below=below,
    )
    return card
