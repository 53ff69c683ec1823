"""Logging for every warroom process: one format, and no secret in any line.

Tokens travel in URLs where a client cannot send a header (a browser's WebSocket, a
page link on a big screen) and a WeCom robot's key is part of its webhook URL, so a
line that prints a URL can leak a credential. Three defences, in order:

- uvicorn's WebSocket handshake lines ("WebSocket /ws/...?token=... [accepted]") are
  access-log lines: dropped unless WARROOM_ACCESS_LOG is on, like the HTTP ones;
- every line, traceback included, goes through a formatter that cuts query strings
  off URLs and paths, `Bearer <token>`, cookie and authorization header lines, URL
  passwords, API keys (`wrk_…`) and Argon2 hashes, whatever logger wrote it;
- libraries that print request parameters at INFO or DEBUG (SQLAlchemy echoes SQL
  parameters such as a webhook's secret; httpx prints each request URL) are held at
  WARNING whatever WARROOM_LOG_LEVEL says.

WARROOM_LOG_FORMAT=json writes one JSON object per line instead (ts, level, logger,
process, pid, campaign, message, exc) for log shippers that index fields; the message
and the traceback go through the same `redact` as the text format.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

REDACTED = "<redacted>"

# Linear on any input: a log line can be as long as a client makes its request line
# (30,000 "/" once took 8 s under a backtracking pattern, stalling the event loop).
# A query string is cut where a "run" (text without whitespace, quotes, <>, # or ?)
# holding a path or URL ("/" not after a word character or ".": "://" has one too)
# is followed by "?". Each run is scanned once: a run may only start after a separator
# (the lookbehind), and the possessive `++` never backtracks.
_RUN_THEN_Q = re.compile(r"""(?<![^\s?#"'<>])[^\s?#"'<>]++\?""")
_PATH_START = re.compile(r"(?<![\w.])/")
_QUERY_TAIL = re.compile(r"""[^\s#"'<>]++""")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
# A header line as websockets prints it at DEBUG ("< cookie: session=...").
_HEADER = re.compile(r"(?i)([<>] (?:cookie|set-cookie|authorization|proxy-authorization)):[^\n]*")
# user:password@ after "://": each scan stops at the next "/", so none overlaps another.
_USERINFO = re.compile(r"://([^\s/:@]*+):[^\s/@]++@")
# An API key (services/people.py: "wrk_" + urlsafe base64) or an Argon2 hash, wherever it
# turns up (an exception's message, a row printed while debugging): issue 18.
_SECRETS = re.compile(r"\bwrk_[A-Za-z0-9_\-]++|\$argon2(?:id|i|d)\$[^\s\"';]++")

# Never louder than WARNING: they print what must not be printed.
QUIET_LOGGERS = ("sqlalchemy", "httpx", "httpcore", "hpack", "websockets")

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LogFormat = Literal["text", "json"]

# The campaign a task is working for, for the `campaign` field of JSON lines: set it
# where a unit of work for one campaign begins (a context variable follows each asyncio
# task and thread on its own). `extra={"campaign": slug}` on a single call wins over it.
campaign_var: ContextVar[str | None] = ContextVar("warroom_campaign", default=None)


def _cut_queries(text: str) -> str:
    out: list[str] = []
    done = 0  # text[:done] is in `out`
    for m in _RUN_THEN_Q.finditer(text):
        if m.start() < done:
            continue  # inside a query already cut
        if not _PATH_START.search(text, m.start(), m.end() - 1):
            continue  # prose ("up? yes"), not a path
        tail = _QUERY_TAIL.match(text, m.end())
        if tail is None:
            continue  # "?" followed by nothing to cut
        out.append(text[done : m.end()])
        out.append(REDACTED)
        done = tail.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def redact(text: str) -> str:
    """Every secret-bearing part of a line replaced; linear in the line's length (the
    worker runs it on webhook receivers' error messages too)."""
    text = _cut_queries(text)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    text = _HEADER.sub(rf"\1: {REDACTED}", text)
    text = _SECRETS.sub(REDACTED, text)
    return _USERINFO.sub(rf"://\1:{REDACTED}@", text)


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record: the message, its arguments and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line. orjson does the escaping (a newline in a message or a
    traceback stays inside its string, so a line is always one record); `redact` runs
    on the message and on the traceback separately, as the text format's whole line."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": self.process,
            "pid": record.process if record.process is not None else os.getpid(),
        }
        campaign = getattr(record, "campaign", None) or campaign_var.get()
        if campaign:
            doc["campaign"] = redact(str(campaign))
        doc["message"] = redact(record.getMessage())
        exc = self._exc_text(record)
        if exc:
            doc["exc"] = redact(exc)
        return orjson.dumps(doc).decode()

    def _exc_text(self, record: logging.LogRecord) -> str:
        parts: list[str] = []
        if record.exc_info and not record.exc_text:
            # Cached on the record as logging.Formatter does, for other handlers.
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


def formatter(fmt: LogFormat = "text", process: str = "warroom") -> logging.Formatter:
    """The formatter of every warroom handler: text (the default) or JSON lines."""
    if fmt == "json":
        return JsonFormatter(process)
    return RedactingFormatter(FORMAT)


class DropWebSocketHandshakes(logging.Filter):
    """uvicorn logs each WebSocket handshake on `uvicorn.error`, with the query string,
    even when its access log is off."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("uvicorn"):
            return True
        msg = record.msg if isinstance(record.msg, str) else ""
        return '"WebSocket ' not in msg


def configure(
    level: str | int = "INFO",
    access_log: bool = False,
    fmt: LogFormat = "text",
    process: str = "warroom",
) -> None:
    """The root handler every process logs through (uvicorn's loggers propagate to it:
    `warroom web` passes `log_config=None`). `process` names the command (web, worker,
    serve, ...) in JSON lines, where several processes' lines end up in one index."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt, process))
    if not access_log:
        handler.addFilter(DropWebSocketHandshakes())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    found = logging.getLevelName(level.strip().upper())
    return found if isinstance(found, int) else logging.INFO
