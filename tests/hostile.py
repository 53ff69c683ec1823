"""Hostile names, for the tests only: markup, template syntax, bidi overrides and emoji
as a chat app lets people type them. Every screen and report must show them as text.
The demo and the simulator show a real day's names (warroom/simulator.py); a test that
needs a hostile seller in a simulated sale renames one with `with_hostile_seller`."""

from __future__ import annotations

import dataclasses
from typing import Any

from warroom.simulator import Sale

HOSTILE_SELLER = "<b>小美</b>"
HOSTILE_NAMES = ("<b>小美</b>", "{{ 7*7 }}团长", "\u202e花姐\u202c接龙", "<script>x</script>🌸")


def with_hostile_seller(sale: Sale, seller_id: str = "s01", name: str = HOSTILE_SELLER) -> Sale:
    """The same sale, `seller_id`'s orders named `name` (events are copied, not shared)."""

    def renamed(e: dict[str, Any]) -> dict[str, Any]:
        if e.get("type") == "order" and e.get("seller_id") == seller_id:
            return {**e, "seller_name": name}
        return e

    # A re-sent event is the same object twice: rename each once, keep the sharing.
    done: dict[int, dict[str, Any]] = {}
    timeline = [(at, done.setdefault(id(e), renamed(e))) for at, e in sale.timeline]
    return dataclasses.replace(sale, timeline=timeline)
