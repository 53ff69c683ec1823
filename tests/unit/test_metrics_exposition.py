"""The metrics' pure parts: the bounded campaign label, the access rule, the sampled
gauges' text."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from warroom.adapters.metrics.catalogue import OTHER, CampaignLabels
from warroom.adapters.metrics.exposition import is_loopback, refusal, render
from warroom.services.vitals import CampaignVitals, Reading


def test_campaign_labels_are_bounded_per_process() -> None:
    labels = CampaignLabels(limit=3)
    assert [labels(s) for s in ("a", "b", "c")] == ["a", "b", "c"]
    assert labels("d") == OTHER  # the fourth campaign shares one series
    assert labels("a") == "a"  # the first ones keep theirs


def test_access_rule() -> None:
    assert refusal(None, "127.0.0.1", None) == 0
    assert refusal(None, "::1", None) == 0
    assert refusal(None, "192.168.1.9", None) == 403
    assert refusal(None, None, None) == 403  # unknown peer: not loopback
    assert refusal(None, "127.0.0.1", "s3cret") == 401  # a token set: loopback is not enough
    assert refusal("Bearer wrong", "127.0.0.1", "s3cret") == 401
    assert refusal("Basic s3cret", "127.0.0.1", "s3cret") == 401
    assert refusal("Bearer s3cret", "10.0.0.1", "s3cret") == 0
    assert refusal("bearer  s3cret", "10.0.0.1", "s3cret") == 0
    assert not is_loopback("not-an-ip")


def test_sampled_gauges_from_a_reading() -> None:
    reading = Reading(
        at_ms=0,
        campaigns=[
            CampaignVitals("a", "A", 12, 3.5, False, 2),
            CampaignVitals("b", "B", None, None, True, 0),  # Redis half-answered, restoring
        ],
        dependencies={"redis": True, "database": False},
    )
    text = render(reading).decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert found[("warroom_campaigns_live", ())] == 2
    assert found[("warroom_stream_pending_events", (("campaign", "a"),))] == 12
    assert ("warroom_stream_pending_events", (("campaign", "b"),)) not in found  # unknown
    assert found[("warroom_settled_lag_seconds", (("campaign", "a"),))] == 3.5
    assert found[("warroom_restoring", (("campaign", "b"),))] == 1
    assert found[("warroom_webhook_queue_deliveries", (("campaign", "a"),))] == 2
    assert found[("warroom_dependency_up", (("dependency", "database"),))] == 0
    assert found[("warroom_dependency_up", (("dependency", "redis"),))] == 1


def test_campaigns_beyond_the_label_limit_fold_into_one_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from warroom.adapters.metrics import exposition

    monkeypatch.setattr(exposition, "campaign_label", CampaignLabels(limit=1))
    reading = Reading(
        at_ms=0,
        campaigns=[
            CampaignVitals("a", "A", 1, 2.0, False, 0),
            CampaignVitals("b", "B", 5, 9.5, False, 1),
            CampaignVitals("c", "C", 7, 4.0, True, 2),
            CampaignVitals("d", "D", None, None, False, 0),
        ],
    )
    text = render(reading).decode()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    series = [(s.name, tuple(sorted(s.labels.items()))) for s in samples]
    assert len(series) == len(set(series))  # no series twice: Prometheus rejects that
    found = dict(zip(series, (s.value for s in samples), strict=True))
    other = (("campaign", OTHER),)
    assert found[("warroom_campaign_live", other)] == 3
    assert found[("warroom_stream_pending_events", other)] == 12
    assert found[("warroom_settled_lag_seconds", other)] == 9.5  # the worst of them
    assert found[("warroom_restoring", other)] == 1
    assert found[("warroom_webhook_queue_deliveries", other)] == 3
    assert found[("warroom_campaign_live", (("campaign", "a"),))] == 1
    assert found[("warroom_campaigns_live", ())] == 4


def test_every_webhook_format_is_a_known_delivery_kind() -> None:
    from warroom.adapters.metrics.catalogue import DELIVERY_KINDS
    from warroom.adapters.outbound.webhook import FORMATS

    assert set(FORMATS) <= set(DELIVERY_KINDS)  # pre-set at 0: the first failure shows
