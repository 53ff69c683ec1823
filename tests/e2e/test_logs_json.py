"""WARROOM_LOG_FORMAT=json through `warroom serve`: the supervisor passes its environment
to the web and worker children, so every process's log lines are JSON objects naming
their process, and a token in a request URL is redacted there as in the text format."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from tests.e2e.served import Served, serve_env
from tests.e2e.test_process import SERVE


def test_serve_and_its_children_log_json(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "data", WARROOM_LOG_FORMAT="json", WARROOM_ACCESS_LOG="1")
    served = Served(SERVE, env)
    try:
        served.wait_healthy()
        camp = served.create_campaign("s1")
        token = camp["viewer_token"]
        httpx.get(f"{served.base}/c/s1?token={token}", timeout=30)
    finally:
        served.stop()
    out = served.output()
    docs = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert docs, out
    for doc in docs:
        assert {"ts", "level", "logger", "process", "pid", "message"} <= doc.keys(), doc
    assert {"serve", "web", "worker"} <= {d["process"] for d in docs}, out
    # The access log line of the page request, its query string cut.
    assert any("/c/s1?<redacted>" in d["message"] for d in docs), out
    assert token not in out
