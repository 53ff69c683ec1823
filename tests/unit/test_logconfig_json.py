"""WARROOM_LOG_FORMAT=json (warroom/logconfig.py): one JSON object per line, with the
fields a log shipper indexes, redacted exactly as the text format."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest

from tests.unit.test_logconfig import test_redact
from warroom import logconfig
from warroom.logconfig import JsonFormatter, campaign_var

# The text format's redaction cases (tests/unit/test_logconfig.py), reused as they stand.
REDACTION_CASES: list[tuple[str, str]] = test_redact.pytestmark[0].args[1]


def _record(msg: str, *args: object, exc: Any = None, **extra: Any) -> logging.LogRecord:
    rec = logging.LogRecord("warroom.test", logging.WARNING, __file__, 1, msg, args, exc)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def _doc(rec: logging.LogRecord, process: str = "worker") -> dict[str, Any]:
    line = JsonFormatter(process).format(rec)
    assert "\n" not in line  # one record, one line, whatever the message holds
    doc = orjson.loads(line)
    assert isinstance(doc, dict)
    return doc


def test_fields() -> None:
    doc = _doc(_record("aggregated %d events\nnext line", 12), process="web")
    assert doc["level"] == "WARNING"
    assert doc["logger"] == "warroom.test"
    assert doc["process"] == "web"
    assert isinstance(doc["pid"], int)
    assert doc["message"] == "aggregated 12 events\nnext line"
    ts = datetime.fromisoformat(doc["ts"])
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert "campaign" not in doc and "exc" not in doc


@pytest.mark.parametrize(("line", "expected"), REDACTION_CASES)
def test_message_redacted_as_text(line: str, expected: str) -> None:
    assert _doc(_record("%s", line))["message"] == expected


def test_secrets_redacted_in_message_and_traceback() -> None:
    try:
        raise RuntimeError(
            "POST https://h/send?token=tok-in-exc with Bearer bear-in-exc wrk_keyinexc"
        )
    except RuntimeError:
        rec = _record(
            "key %s sent Bearer %s to %s",
            "wrk_keyinmsg-1",
            "bear-in-msg",
            "/c/sale?token=tok-in-msg",
            exc=sys.exc_info(),
        )
    doc = _doc(rec)
    for secret in ("tok-in", "bear-in", "keyin"):
        assert secret not in orjson.dumps(doc).decode(), secret
    assert doc["message"].count("<redacted>") == 3
    assert "Traceback" in doc["exc"] and "RuntimeError" in doc["exc"]
    assert doc["exc"].count("<redacted>") >= 3  # the raising source line is in it too


@pytest.fixture
def no_campaign() -> Iterator[None]:
    token = campaign_var.set(None)
    yield
    campaign_var.reset(token)


def test_campaign_from_extra_or_context(no_campaign: None) -> None:
    assert _doc(_record("x", campaign="sale"))["campaign"] == "sale"
    token = campaign_var.set("double11")
    try:
        assert _doc(_record("x"))["campaign"] == "double11"
        assert _doc(_record("x", campaign="sale"))["campaign"] == "sale"  # extra wins
    finally:
        campaign_var.reset(token)
    assert "campaign" not in _doc(_record("x"))


def test_configure_json_through_a_logger(no_campaign: None) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    # configure() holds the chatty libraries at WARNING: give them back their levels, or
    # a later test that reads httpx's INFO lines (test_webhooks) sees none.
    quiet = {name: logging.getLogger(name).level for name in logconfig.QUIET_LOGGERS}
    try:
        logconfig.configure("INFO", fmt="json", process="serve")
        stream = io.StringIO()
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        log = logging.getLogger("warroom.somewhere")
        log.info("viewer joined /ws/campaigns/s?token=abc", extra={"campaign": "s"})
        log.debug("not at INFO")
        lines = stream.getvalue().splitlines()
        assert len(lines) == 1
        doc = orjson.loads(lines[0])
        assert doc["process"] == "serve" and doc["campaign"] == "s"
        assert doc["message"] == "viewer joined /ws/campaigns/s?<redacted>"
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
