"""The v1 event contract: strict validation of one wire event into a normalized dict.

Strict means money and counts are JSON integers and nothing else: `true`, `"100"`,
`12.5`, `1e3` and NaN are refused, so a figure can never be silently coerced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic.functional_validators import BeforeValidator

from warroom.core.ingest.clock import parse_instant, rfc3339
from warroom.core.ingest.money import MAX_AMOUNT_FEN

MAX_ID_LEN = 128
MAX_NAME_LEN = 200
MAX_QUANTITY = 1_000_000
DAY_MS = 86_400_000
AHEAD_MS = 5 * 60_000  # how far ahead of the campaign clock a sender's clock may run


def _id(value: Any) -> str:
    # Chat apps hand out ids as strings or numbers; both are identities, never amounts.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string or integer id")
    text = str(value)
    if not 1 <= len(text) <= MAX_ID_LEN:
        raise ValueError(f"must be 1..{MAX_ID_LEN} characters")
    return text


def _ts(value: Any) -> int | None:
    if value is None:
        return None
    return parse_instant(value)


Id = Annotated[str, BeforeValidator(_id)]
Ts = Annotated[int | None, BeforeValidator(_ts)]
Fen = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT_FEN)]
Name = Annotated[StrictStr, Field(max_length=MAX_NAME_LEN)]


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class OrderEvent(_Wire):
    type: Literal["order"]
    order_id: Id
    amount_fen: Fen
    seller_id: Id
    group_id: Id
    buyer_id: Id
    product_id: Id
    ts: Ts = None
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 1
    seller_name: Name | None = None
    group_name: Name | None = None
    product_name: Name | None = None


class RefundEvent(_Wire):
    type: Literal["refund"]
    refund_id: Id
    order_id: Id
    amount_fen: Fen
    ts: Ts = None


class MessageEvent(_Wire):
    type: Literal["message"]
    message_id: Id
    group_id: Id
    member_id: Id
    ts: Ts = None
    kind: Literal["text", "image", "order_screenshot", "red_packet", "other"] = "text"


class MemberEvent(_Wire):
    type: Literal["member"]
    event_id: Id
    group_id: Id
    member_id: Id
    action: Literal["join", "leave"]
    ts: Ts = None


WireEvent = Annotated[
    OrderEvent | RefundEvent | MessageEvent | MemberEvent, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(WireEvent)
_IDENTITY = {
    "order": "order_id",
    "refund": "refund_id",
    "message": "message_id",
    "member": "event_id",
}
EVENT_TYPES = frozenset(_IDENTITY)


def type_label(raw: object) -> str:
    """An event's type as a bounded label: one of EVENT_TYPES, or `invalid` (a metric
    counts rejected events too, whatever their sender put in `type`)."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) and kind in _IDENTITY else "invalid"


class _Normalized(TypedDict):
    key: str  # the dedupe identity, unique per campaign: "<type>:<id>"
    ts: int  # epoch ms: the sender's, or the arrival on the campaign clock
    lid: NotRequired[int]  # the ledger id, tagged on once the event is recorded


class NormalizedOrder(_Normalized):
    type: Literal["order"]
    order_id: str
    amount_fen: int
    seller_id: str
    group_id: str
    buyer_id: str
    product_id: str
    quantity: int
    seller_name: NotRequired[str]  # names only when the sender gave one
    group_name: NotRequired[str]
    product_name: NotRequired[str]


class NormalizedRefund(_Normalized):
    type: Literal["refund"]
    refund_id: str
    order_id: str
    amount_fen: int


class NormalizedMessage(_Normalized):
    type: Literal["message"]
    message_id: str
    group_id: str
    member_id: str
    kind: Literal["text", "image", "order_screenshot", "red_packet", "other"]


class NormalizedMember(_Normalized):
    type: Literal["member"]
    event_id: str
    group_id: str
    member_id: str
    action: Literal["join", "leave"]


# What `normalize` returns: a plain dict (it travels as JSON to the ledger and the
# stream), tagged by `type`.
NormalizedEvent = NormalizedOrder | NormalizedRefund | NormalizedMessage | NormalizedMember


class EventError(ValueError):
    """One event is unacceptable; the message says why, for the `rejected` list."""


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(
        str(p) for p in first["loc"] if p not in {"order", "refund", "message", "member"}
    )
    msg = first["msg"]
    if first["type"] == "missing":
        msg = "is required"
    return f"{where}: {msg}" if where else msg


@dataclass(frozen=True)
class TsWindow:
    """The `ts` a campaign accepts (contract v2): from a day before it starts to a day
    after it ends, and never more than five minutes ahead of the campaign clock."""

    earliest_ms: int
    latest_ms: int
    tz: str = "UTC"

    def check(self, ts_ms: int) -> None:
        if self.earliest_ms <= ts_ms <= self.latest_ms:
            return
        try:
            when = rfc3339(ts_ms, self.tz)
        except (OverflowError, ValueError, OSError):  # beyond what datetime can show
            when = f"{ts_ms} ms"
        side = "before" if ts_ms < self.earliest_ms else "after"
        bound = self.earliest_ms if side == "before" else self.latest_ms
        raise EventError(
            f"ts: {when} is outside the campaign's window ({side} {rfc3339(bound, self.tz)}:"
            " accepted from starts_at - 1 day to ends_at + 1 day, at most 5 minutes ahead"
            " of the campaign clock)"
        )


def ts_window(starts_at_ms: int, ends_at_ms: int, now_ms: int, tz: str = "UTC") -> TsWindow:
    return TsWindow(starts_at_ms - DAY_MS, min(ends_at_ms + DAY_MS, now_ms + AHEAD_MS), tz)


def normalize(raw: Any, arrival_ms: int, window: TsWindow | None = None) -> NormalizedEvent:
    """Validate one wire event and return its normalized form.

    The normalized dict always has `type`, `key` (the dedupe identity, unique per
    campaign) and `ts` (epoch ms; the arrival time on the campaign clock when absent).
    A `ts` the sender gave must fall inside `window`; one stamped on arrival is ours,
    and is not checked (a late feed after the window still counts, as contract v2 asks).
    """
    if not isinstance(raw, dict):
        raise EventError("event must be a JSON object")
    kind = raw.get("type")
    if kind not in _IDENTITY:
        raise EventError("type: must be one of order, refund, message, member")
    try:
        model = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise EventError(_describe(exc)) from None
    # The wire models are flat: their fields are the dict (half the cost of model_dump).
    data: dict[str, Any] = {k: v for k, v in model.__dict__.items() if v is not None}
    if data.get("ts") is None:
        data["ts"] = arrival_ms
    elif window is not None:
        window.check(data["ts"])
    data["key"] = f"{kind}:{data[_IDENTITY[kind]]}"
    return cast(NormalizedEvent, data)  # the wire model's fields, validated above


class BodyError(ValueError):
    """The whole request is unreadable (400)."""


_NOT_JSON = object()


def split_body(body: bytes, ndjson: bool) -> list[Any]:
    """One object, an array of them, or NDJSON lines, as a list of raw items.

    In NDJSON a line that is not JSON spoils only itself (it comes back as a marker
    that `normalize` rejects); in a JSON body it spoils the whole request.
    """
    import orjson

    if ndjson:
        items: list[Any] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                items.append(_NOT_JSON)
        return items
    if not body.strip():
        raise BodyError("empty body: send a JSON object, a JSON array or NDJSON")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"body is not valid JSON: {exc}") from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise BodyError("body must be a JSON object or an array of objects")


def is_unparsed(item: Any) -> bool:
    return item is _NOT_JSON


def differing_fields(
    stored: Mapping[str, object], sent: Mapping[str, object], compare_ts: bool
) -> list[str]:
    """Fields in which a re-sent identity differs from the recorded event (both
    normalized). `ts` is compared only when the sender gave one: an event sent without
    `ts` is stamped on arrival, so its retry carries a later stamp and is the same event."""
    skip = {"lid"} if compare_ts else {"lid", "ts"}
    names = (stored.keys() | sent.keys()) - skip
    return sorted(k for k in names if stored.get(k) != sent.get(k))


def conflict_error(key: str, fields: list[str]) -> str:
    kind, _, ident = key.partition(":")
    return (
        f"conflict: {kind} {ident!r} was already recorded with a different "
        f"{', '.join(fields)}; nothing was changed (send a new id for a new event)"
    )
