"""A mapped source's signature: the lowercase hex HMAC-SHA256 of the raw body, or of
`timestamp + "." + body` when the config names a timestamp header (epoch seconds,
refused outside `tolerance_s`). Either listed secret may match, so a platform's secret
can be rotated without a gap. Compared in constant time. Time is an argument."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from warroom.core.sources.mapping import Signature


class SignatureError(ValueError):
    """The delivery is not from the platform (401); the message says what failed and
    never echoes a secret or the expected value."""


def sign(secret: str, body: bytes, timestamp: str | None = None) -> str:
    message = body if timestamp is None else timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(sig: Signature, body: bytes, headers: Mapping[str, str], now_s: int) -> None:
    """Raise SignatureError unless the delivery is signed as `sig` says. `headers` is
    case-insensitive (Starlette's) or lower-cased."""
    if sig.scheme == "none":
        return
    given = _header(headers, sig.header)
    if not given:
        raise SignatureError(f"missing signature header {sig.header}")
    timestamp: str | None = None
    if sig.timestamp_header:
        timestamp = _header(headers, sig.timestamp_header)
        if (
            not timestamp
            or not timestamp.isascii()
            or not timestamp.isdigit()
            or len(timestamp) > 12
        ):
            raise SignatureError(f"missing or malformed timestamp header {sig.timestamp_header}")
        if abs(now_s - int(timestamp)) > sig.tolerance_s:
            raise SignatureError(
                f"timestamp outside the tolerance of {sig.tolerance_s} s (replayed or clock skew)"
            )
    given_b = given.strip().encode("ascii", "replace")
    ok = False
    for secret in sig.secrets:  # every secret is tried: the time does not tell which matched
        expected = sign(secret, body, timestamp).encode()
        ok |= hmac.compare_digest(expected, given_b)
    if not ok:
        raise SignatureError("signature does not match")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value
