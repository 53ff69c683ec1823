"""The campaign clock: real time, or a rehearsal clock running `time_scale` times faster.

Pure: every function takes the real instant as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000


@dataclass(frozen=True)
class CampaignClock:
    starts_at_ms: int
    created_at_ms: int
    time_scale: float = 1.0

    def now_ms(self, real_now_ms: int) -> int:
        if self.time_scale == 1:
            return real_now_ms
        # A rehearsal clock starts at `starts_at` the moment the campaign is created.
        return self.starts_at_ms + int((real_now_ms - self.created_at_ms) * self.time_scale)

    def real_ms_for(self, campaign_ms: int) -> int:
        """When (real time) the campaign clock will show `campaign_ms`."""
        if self.time_scale == 1:
            return campaign_ms
        return self.created_at_ms + int((campaign_ms - self.starts_at_ms) / self.time_scale)


def minute_floor(ts_ms: int) -> int:
    # Every modern zone offset is a whole number of minutes, so flooring epoch ms to the
    # minute gives the same bucket in any campaign time zone.
    return ts_ms - ts_ms % MINUTE_MS


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("datetime must carry a UTC offset")
    return int(dt.timestamp() * 1000)


def from_ms(ts_ms: int, tz: str = "UTC") -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(ZoneInfo(tz))


def rfc3339(ts_ms: int, tz: str) -> str:
    dt = from_ms(ts_ms, tz)
    if ts_ms % 1000:
        return dt.isoformat(timespec="milliseconds")
    return dt.isoformat(timespec="seconds")


def parse_instant(value: object) -> int:
    """RFC 3339 with an offset, or integer epoch milliseconds, to epoch ms."""
    if isinstance(value, bool):
        raise ValueError("time must be RFC 3339 text or integer epoch milliseconds")
    if isinstance(value, int):
        if not 0 <= value < 10**14:
            raise ValueError("epoch milliseconds out of range")
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) < 10 or len(text) > 40:
            raise ValueError("not an RFC 3339 time")
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError as exc:
            raise ValueError("not an RFC 3339 time") from exc
        if dt.tzinfo is None:
            raise ValueError("time needs a UTC offset (e.g. +08:00 or Z)")
        return to_ms(dt)
    raise ValueError("time must be RFC 3339 text or integer epoch milliseconds")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
