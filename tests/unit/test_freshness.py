"""The "no new data" figure of the screens: counted only while the sale runs."""

from warroom.adapters.hub.freshness import ingest_idle_ms


def test_ingest_idle_counts_only_while_the_sale_runs() -> None:
    start, end, real = 1_000_000, 2_000_000, 50_000_000
    assert ingest_idle_ms(start, end, 1_500_000, real, real - 7_000) == 7_000
    assert ingest_idle_ms(start, end, 1_500_000, real, None) is None  # no event yet
    assert ingest_idle_ms(start, end, start - 1, real, real - 7_000) is None  # not open
    assert ingest_idle_ms(start, end, end, real, real - 7_000) is None  # closed
