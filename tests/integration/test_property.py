"""Any event set, in any order and batch shape, gives the reference figures to the fen."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.conftest import Harness, harness_for
from tests.reference import comparable, reference
from tests.strategies import batchings, event_sets

_slugs = itertools.count()


async def ingest(
    h: Harness, slug: str, token: str, events: list[dict[str, Any]], plan: list[tuple[int, str]]
) -> None:
    i = 0
    for size, shape in plan:
        chunk = events[i : i + size]
        i += size
        if shape == "single":
            res = await h.post_events(slug, token, chunk[0])
        elif shape == "ndjson":
            body = b"\n".join(orjson.dumps(e) for e in chunk)
            res = await h.post_events(slug, token, body, ndjson=True)
        else:
            res = await h.post_events(slug, token, chunk)
        assert res.status_code == 202, res.text
        assert res.json()["rejected"] == []


@hsettings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), events=event_sets())
def test_any_order_and_batching_matches_reference(settings, data, events) -> None:
    plan = data.draw(batchings(len(events)))
    workers = data.draw(st.integers(1, 3))

    async def scenario() -> dict[str, Any]:
        async with harness_for(settings) as h:
            slug = f"p{next(_slugs)}"
            c = await h.create_campaign(slug=slug)
            await ingest(h, slug, c["ingest_token"], events, plan)
            await h.drain_with(workers)
            return await h.snapshot(slug, c["viewer_token"])

    snap = asyncio.run(scenario())
    assert comparable(snap) == reference(events)
