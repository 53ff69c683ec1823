"""What the log formatter cuts out of every line (warroom/logconfig.py)."""

from __future__ import annotations

import logging

import pytest

from warroom.logconfig import DropWebSocketHandshakes, RedactingFormatter, redact

R = "<redacted>"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '127.0.0.1:5 - "GET /c/sale?token=abc&mask=1 HTTP/1.1" 200',
            f'127.0.0.1:5 - "GET /c/sale?{R} HTTP/1.1" 200',
        ),
        (
            '127.0.0.1:5 - "WebSocket /ws/campaigns/s?token=abc" [accepted]',
            f'127.0.0.1:5 - "WebSocket /ws/campaigns/s?{R}" [accepted]',
        ),
        (
            "HTTP Request: POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1 200",
            f"HTTP Request: POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?{R} 200",
        ),
        ("url 'http://h/x?key=k'", f"url 'http://h/x?{R}'"),
        ("< GET /ws/campaigns/s?token=t HTTP/1.1", f"< GET /ws/campaigns/s?{R} HTTP/1.1"),
        ("< authorization: Bearer abc.def", f"< authorization: {R}"),
        ("< Cookie: warroom_session=xyz; other=1", f"< Cookie: {R}"),
        ("Authorization header was Bearer s3cr3t", f"Authorization header was Bearer {R}"),
        ("postgresql://user:pw@db:5432/x down", f"postgresql://user:{R}@db:5432/x down"),
        ("key wrk_AbC-d_9 was revoked", f"key {R} was revoked"),
        (
            "row ('a@b.cn', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', 1)",
            f"row ('a@b.cn', '{R}', 1)",
        ),
        # Prose with a question mark and plain paths stay as they were.
        ("is the worker up? yes", "is the worker up? yes"),
        (
            "embedded redis on /data/redis.sock (pid 7)",
            "embedded redis on /data/redis.sock (pid 7)",
        ),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_formatter_redacts_arguments_and_tracebacks() -> None:
    try:
        raise RuntimeError("failed for url 'https://h/send?key=robot'")
    except RuntimeError:
        import sys

        rec = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "POST %s", ("/h?key=robot",), sys.exc_info()
        )
    text = RedactingFormatter("%(message)s").format(rec)
    assert "robot" not in text and "Traceback" in text


def test_websocket_handshake_lines_are_access_log_lines() -> None:
    drop = DropWebSocketHandshakes()
    handshake = _record(
        "uvicorn.error", '%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/ws?token=t"
    )
    assert not drop.filter(handshake)
    assert drop.filter(_record("uvicorn.error", "Started server process [%d]", 1))
    assert drop.filter(_record("warroom.x", '"WebSocket " is fine here'))
