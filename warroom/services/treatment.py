"""Who a stimulus reaches (contract v3, "Stimulus that proves itself").

At a fire with `holdout_share`, a seeded draw (core/reports/holdout.assign) splits the
campaign's groups into treated and held out, stratified by their sales so far (the
groups board: net GMV per group). The seed and the assignment are recorded with the
fire, in the fire's own row, so the draw can be checked and replayed. The stimulus is
announced to the treated groups only: their hosts (the sellers with orders in them)
get it on their host page, and a robot bound to a held-out group gets no post.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Collection
from typing import Protocol

from warroom.adapters.sql.store import Store
from warroom.core.reports.holdout import Assignment, assign


class GroupSales(Protocol):
    """adapters/redis/hotstate.py `HotState`, as a draw reads it."""

    async def group_sales(self, slug: str) -> dict[str, int] | None: ...


# How far back a group's hosts are looked for: a host who sold in the group in the last
# hours of campaign time is the one who will act on the stimulus.
HOSTS_LOOKBACK_MS = 6 * 3_600_000


async def draw(hot: GroupSales, slug: str, share: float, seed: int | None = None) -> Assignment:
    """The assignment of a fire happening now: every group with an order, held out by
    `share` (0: all treated). Groups are unknown while figures restore: nobody is
    held out then (an empty draw, recorded as such)."""
    sales = await hot.group_sales(slug) or {}
    return assign(sales, share, secrets.randbits(62) if seed is None else seed)


def _hosts_of(
    store: Store, campaign_id: int, groups: Collection[str], at_ms: int
) -> dict[str, list[str]]:
    wanted = set(groups)
    found: dict[str, set[str]] = {}
    for chunk in store.sales_between(campaign_id, at_ms - HOSTS_LOOKBACK_MS, at_ms + 1):
        for e in chunk:
            group, seller = e.get("group_id"), e.get("seller_id")
            if e.get("type") == "order" and group in wanted and seller:
                found.setdefault(str(seller), set()).add(str(group))
    return {seller: sorted(gs) for seller, gs in sorted(found.items())}


async def hosts_of(
    store: Store, campaign_id: int, groups: Collection[str], at_ms: int
) -> dict[str, list[str]]:
    """Each host (seller id) with orders in any of `groups` in the hours before
    `at_ms` (campaign time), with those groups: who gets a stimulus's task."""
    return await asyncio.to_thread(_hosts_of, store, campaign_id, groups, at_ms)
