"""Redaction is linear in the line's length (issue 17, item 5): the log formatter runs
on every line, a client chooses its request line, and the worker redacts webhook
receivers' error messages. Each pathological 100 KB input must redact within a
generous multiple of a plain 100 KB line's time, measured here on the same machine."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from warroom.adapters.outbound.netguard import redact_url
from warroom.logconfig import redact

SIZE = 100_000
PATHOLOGICAL = {
    "slashes": "GET " + "/" * SIZE,
    "dotted words": "a." * (SIZE // 2),
    "schemes": "a://" * (SIZE // 4),
    "user and colons": "a://b:" * (SIZE // 6),
    "paths and marks": "/a?" * (SIZE // 3),
    "slash marks": "/?" * (SIZE // 2),
    "letters then mark": "x" * SIZE + "?",
    "bearer words": "bearer " * (SIZE // 7),
}


def best_of(fn: Callable[[str], str], text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - began)
    return best


@pytest.mark.parametrize("fn", [redact, redact_url], ids=["logconfig.redact", "redact_url"])
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_input_redacts_in_linear_time(fn: Callable[[str], str], name: str) -> None:
    # The baseline: a 100 KB line of ordinary URLs and words, which does the same work.
    plain = ("GET https://h.example/p/q?token=abc&x=1 HTTP/1.1 ok words " * 2000)[:SIZE]
    baseline = best_of(fn, plain)
    # Best of three on both sides: one run preempted on a loaded machine must not
    # look like a slow algorithm (a quadratic one is ~1,000x slower here, not 30x).
    took = best_of(fn, PATHOLOGICAL[name], runs=3)
    assert took < 30 * baseline + 0.05, f"{name}: {took:.3f} s vs {baseline:.4f} s baseline"


def test_the_worker_still_cuts_queries_and_credentials() -> None:
    msg = "ConnectError: https://u:p@qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k#f failed"
    assert (
        redact_url(msg) == "ConnectError: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?… failed"
    )
    assert redact_url("is it up? no") == "is it up? no"
