"""deploy/ against the product, without promtool (scripts/check-deploy runs promtool).

Every metric the alert rules, their unit tests, the scrape files and the Grafana
dashboard name must be one Warroom exposes: a rule over a misspelt or renamed metric
matches no series and never fires, and nothing else would say so. What is exposed is
read from the metric objects of `warroom.adapters.metrics.catalogue` (with the series
names the Prometheus text format gives each type) plus `catalogue.SAMPLED`, the gauges
built at scrape time. The dashboard must import (JSON, a datasource variable, a campaign
variable, every panel with a title and a query), and every alert must carry a summary,
a description and a runbook link whose anchor exists in docs/operations.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram, Summary

from warroom.adapters.metrics import catalogue

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "warroom.json"
OPERATIONS = ROOT / "docs" / "operations.md"
RUNBOOK = "docs/operations.md#"

METRIC = re.compile(r"warroom_[a-z0-9_]+")
# The series each metric type shows in the Prometheus text format (what PromQL sees).
SERIES = {
    Counter: ("_total", "_created"),
    Histogram: ("_bucket", "_sum", "_count", "_created"),
    Summary: ("", "_sum", "_count", "_created"),
    Gauge: ("",),
}


def exposed_series() -> set[str]:
    """Every series name Warroom's /metrics can show."""
    names = set(catalogue.SAMPLED)
    for value in vars(catalogue).values():
        for kind, suffixes in SERIES.items():
            if isinstance(value, kind):
                names.update(value._name + suffix for suffix in suffixes)
    return names


def unknown_metrics(text: str, exposed: set[str]) -> set[str]:
    """The warroom_* names in `text` that no Warroom process exposes. Names are taken
    whole: a histogram named without `_bucket`/`_sum`/`_count`, or a counter without
    `_total`, is no series either."""
    return set(METRIC.findall(text)) - exposed


def github_anchors(markdown: str) -> set[str]:
    """The anchors a Markdown page offers: each heading's slug as GitHub makes it
    (lower case, punctuation dropped, spaces to hyphens) and explicit <a id>/<a name>."""
    anchors = set(re.findall(r"""<a\s+(?:id|name)=["']([^"']+)["']""", markdown))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return anchors


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def dashboard_panels() -> list[dict[str, Any]]:
    """The dashboard's panels, rows (layout only: no query) left out, those inside a
    collapsed row included."""
    dash = json.loads(DASHBOARD.read_text())
    out: list[dict[str, Any]] = []
    for panel in dash["panels"]:
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


DEPLOY_FILES = [
    PROMETHEUS / "alerts.yml",
    PROMETHEUS / "alerts_test.yml",
    PROMETHEUS / "serve.yml",
    PROMETHEUS / "fleet.yml",
    DASHBOARD,
]


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: p.name)
def test_every_metric_named_is_exposed(path: Path) -> None:
    assert unknown_metrics(path.read_text(), exposed_series()) == set()


def test_the_check_catches_a_misspelt_name() -> None:
    """The check above is not vacuous: a typo, a counter without `_total`, a histogram
    used bare and a sampled gauge with a suffix it does not have are all caught."""
    exposed = exposed_series()
    assert "warroom_events_total" in exposed
    assert "warroom_ingest_request_seconds_bucket" in exposed
    assert "warroom_settled_lag_seconds" in exposed
    rule = "max by (campaign) (warroom_setled_lag_seconds) > 60"
    assert unknown_metrics(rule, exposed) == {"warroom_setled_lag_seconds"}
    assert unknown_metrics(
        "rate(warroom_events[5m]) warroom_ingest_request_seconds warroom_viewers_total",
        exposed,
    ) == {"warroom_events", "warroom_ingest_request_seconds", "warroom_viewers_total"}


def test_the_catalogue_is_read() -> None:
    # If the catalogue's objects stopped being found (renamed classes, a registry
    # wrapper), every name would look unknown or, worse, the check would pass on SAMPLED
    # alone; pin a few of each type.
    exposed = exposed_series()
    for name in ("warroom_frames_total", "warroom_viewers", "warroom_render_seconds_count"):
        assert name in exposed


def test_every_alert_has_summary_description_and_a_runbook_that_exists() -> None:
    anchors = github_anchors(OPERATIONS.read_text())
    rules = alert_rules()
    assert len(rules) >= 8
    for rule in rules:
        ann = rule.get("annotations", {})
        assert ann.get("summary"), rule["alert"]
        assert ann.get("description"), rule["alert"]
        url = ann.get("runbook_url", "")
        assert url.startswith(RUNBOOK), (rule["alert"], url)
        anchor = url.removeprefix(RUNBOOK)
        assert anchor == f"alert-{rule['alert'].lower()}", (rule["alert"], url)
        assert anchor in anchors, f"{rule['alert']}: no #{anchor} in docs/operations.md"
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]


def test_every_alert_is_unit_tested_firing() -> None:
    """alerts_test.yml has, for each alert, a case where it fires (promtool runs them)."""
    doc = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    fired = {
        case["alertname"]
        for test in doc["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    silent = {
        case["alertname"]
        for test in doc["tests"]
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fired == set()
    assert silent, "no case where an alert must stay silent"


def test_the_issue_alerts_are_there() -> None:
    """The alerts issue 20 asks for, by what each watches."""
    exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    watched = " ".join(exprs.values())
    for metric in (
        "warroom_stream_pending_events",  # aggregation lag
        "warroom_settled_lag_seconds",  # settled lag during a live sale
        "warroom_restoring",  # restoring for more than a minute
        "warroom_webhook_deliveries_total",  # webhook failures
        "warroom_dependency_up",  # a dependency down
        "warroom_refused_total",  # ingest refusing by limits
        "warroom_http_responses_total",  # error ratio
    ):
        assert metric in watched, metric
    no_events = exprs["WarroomNoEventsDuringSale"]
    assert "warroom_campaign_live" in no_events and "unless" in no_events


def summed(expr: str) -> list[str]:
    """The arguments of every `sum` in a PromQL expression."""
    out = []
    for m in re.finditer(r"\bsum\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(", expr):
        depth, i = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(expr[i], 0)
            i += 1
        out.append(expr[m.end() : i - 1])
    return out


def test_sampled_gauges_are_never_summed() -> None:
    """Every process serving /metrics reports the same sampled figure: summing them
    multiplies it by the number of processes (max by campaign/dependency instead)."""
    assert summed("sum by (c) (rate(a[5m])) / sum(b)") == ["rate(a[5m])", "b"]
    exprs = [rule["expr"] for rule in alert_rules()]
    exprs += [t["expr"] for p in dashboard_panels() for t in p["targets"]]
    for expr in exprs:
        for argument in summed(expr):
            for name in catalogue.SAMPLED:
                assert not re.search(rf"\b{name}\b", argument), (name, expr)


def test_dashboard_imports() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["uid"] and dash["title"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    campaign = variables["campaign"]
    assert campaign["type"] == "query"
    assert "label_values(warroom_campaign_live, campaign)" in json.dumps(campaign["query"])
    panels = dashboard_panels()
    nested = [p for row in dash["panels"] for p in row.get("panels", [])]
    ids = [p["id"] for p in dash["panels"] + nested]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        assert panel.get("title"), panel
        targets = panel.get("targets", [])
        assert targets, f"panel {panel['title']!r} has no query"
        for target in targets:
            assert target.get("expr"), panel["title"]
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_dashboard_answers_the_days_questions() -> None:
    """A panel per question an engineer asks on the day (issue 20), found by its query."""
    exprs = " ".join(t["expr"] for p in dashboard_panels() for t in p["targets"])
    for metric in (
        "warroom_events_total",
        "warroom_ingest_request_seconds_bucket",
        "warroom_stream_pending_events",
        "warroom_settled_lag_seconds",
        "warroom_viewers",
        "warroom_frames_total",
        "warroom_renders_total",
        "warroom_render_seconds_bucket",
        "warroom_reports_total",
        "warroom_stimulus_fires_total",
        "warroom_webhook_deliveries_total",
        "warroom_webhook_delivery_seconds_bucket",
        "warroom_dependency_up",
        "warroom_refused_total",
        "warroom_restores_total",
        "warroom_aggregation_batch_events_sum",
        "warroom_aggregation_batch_seconds_bucket",
        "warroom_trigger_tick_seconds_bucket",
        "warroom_http_responses_total",
    ):
        assert metric in exprs, metric
