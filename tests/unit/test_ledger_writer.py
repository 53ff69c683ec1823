"""The ledger writer over fakes: events become durable once, duplicates are answered
as duplicates, and each batch reaches the stream as one entry (services/ledger.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.fakes import FakeCampaignStreams, FakeLedgerStore
from warroom.services.ledger import DUPLICATE, NEW, LedgerWriter, Overloaded

T0 = 1_716_170_400_000  # 2024-05-20 10:00 +08:00


def order(n: int, amount_fen: int = 9_900) -> dict[str, Any]:
    return {"key": f"order:o{n}", "type": "order", "ts": T0 + n, "amount_fen": amount_fen}


@pytest.fixture
def store() -> FakeLedgerStore:
    return FakeLedgerStore()


@pytest.fixture
def stream() -> FakeCampaignStreams:
    return FakeCampaignStreams()


@pytest.fixture
async def writer(
    store: FakeLedgerStore, stream: FakeCampaignStreams
) -> AsyncIterator[LedgerWriter]:
    w = LedgerWriter(store, stream, max_pending_events=10, timeout_s=2.0)
    await w.start()
    yield w
    await w.stop()


async def test_new_events_are_recorded_and_reach_the_stream_as_one_entry(writer, store, stream):
    results = await writer.submit(1, "520", [order(1), order(2)], received_ms=T0 + 5)

    assert results == [NEW, NEW]
    assert set(store.rows) == {(1, "order:o1"), (1, "order:o2")}
    (entry,) = stream.entries["520"]
    assert [e["key"] for e in entry] == ["order:o1", "order:o2"]
    assert [e["lid"] for e in entry] == [store.rows[(1, k)].id for k in ("order:o1", "order:o2")]


async def test_a_resent_event_is_a_duplicate_and_changes_nothing(writer, store, stream):
    await writer.submit(1, "520", [order(1)], received_ms=T0 + 5)

    results = await writer.submit(1, "520", [order(1), order(2)], received_ms=T0 + 9)

    assert results == [DUPLICATE, NEW]
    assert len(store.rows) == 2
    assert [[e["key"] for e in entry] for entry in stream.entries["520"]] == [
        ["order:o1"],
        ["order:o2"],  # only the new one is counted again
    ]


async def test_a_resent_identity_with_other_fields_is_a_conflict(writer, store, stream):
    await writer.submit(1, "520", [order(1, amount_fen=9_900)], received_ms=T0 + 5)

    (result,) = await writer.submit(1, "520", [order(1, amount_fen=1)], received_ms=T0 + 9)

    assert result.startswith("conflict:") and "amount_fen" in result
    assert orjson.loads(store.rows[(1, "order:o1")].body)["amount_fen"] == 9_900
    assert len(stream.entries["520"]) == 1


async def test_an_identity_is_per_campaign(writer, store):
    a = await writer.submit(1, "520", [order(1)], received_ms=T0)
    b = await writer.submit(2, "618", [order(1)], received_ms=T0)

    assert a == b == [NEW]
    assert len(store.rows) == 2


async def test_requests_arriving_together_share_one_transaction_and_one_entry_per_campaign(
    writer, store, stream
):
    results = await asyncio.gather(
        writer.submit(1, "520", [order(1)], received_ms=T0),
        writer.submit(1, "520", [order(2), order(3)], received_ms=T0),
        writer.submit(2, "618", [order(1)], received_ms=T0),
    )

    assert results == [[NEW], [NEW, NEW], [NEW]]
    assert store.writes == [4]  # one transaction for the three requests
    assert [[e["key"] for e in entry] for entry in stream.entries["520"]] == [
        ["order:o1", "order:o2", "order:o3"]
    ]
    assert len(stream.entries["618"]) == 1


async def test_the_same_identity_twice_in_flight_is_recorded_once(writer, store, stream):
    first, second = await asyncio.gather(
        writer.submit(1, "520", [order(1)], received_ms=T0),
        writer.submit(1, "520", [order(1)], received_ms=T0),
    )

    assert (first, second) == ([NEW], [DUPLICATE])
    assert len(store.rows) == 1
    assert sum(len(entry) for entry in stream.entries["520"]) == 1


async def test_what_reached_the_stream_is_marked_relayed_once_the_writer_is_idle(writer, store):
    await writer.submit(1, "520", [order(1), order(2)], received_ms=T0)

    # The writer marks them after answering, in its own thread: wait for it, bounded.
    for _ in range(200):
        if store.relayed():
            break
        await asyncio.sleep(0.005)
    assert store.relayed() == {1, 2}


async def test_with_the_stream_down_events_are_still_durable_and_left_for_the_relay(store, stream):
    stream.fail = ConnectionError("redis is down")
    writer = LedgerWriter(store, stream)
    await writer.start()

    results = await writer.submit(1, "520", [order(1)], received_ms=T0)
    await writer.stop()

    assert results == [NEW]  # recorded: the answer is 202
    assert len(store.rows) == 1
    assert store.relayed() == set()  # the relay re-publishes it
    assert writer.stream_failing


async def test_a_failed_ledger_write_records_nothing_and_says_so(writer, store, stream):
    store.fail = OSError("database is locked")

    with pytest.raises(OSError):
        await writer.submit(1, "520", [order(1)], received_ms=T0)

    assert store.rows == {}
    assert stream.entries == {}
    assert writer.sql_failing


async def test_too_much_waiting_is_refused(writer):
    with pytest.raises(Overloaded):
        await writer.submit(1, "520", [order(n) for n in range(11)], received_ms=T0)
