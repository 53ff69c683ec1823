"""Scoped links (contract v3, "People, roles and links"): what each kind of link may
open, decided here once, pure.

A link is its own token for one campaign. Its kind says which viewer surfaces it
opens; everything else answers as if the token were wrong (default deny: a route
opens to a link only by naming the area it belongs to).

| area | full viewer token | wall | host | review |
| --- | --- | --- | --- | --- |
| `screen`: the big screen, its chart, the snapshot API | yes | yes (masked: money-free) | no | no |
| `socket`: the live WebSocket | yes | yes (masked: money-free frames) | yes | no |
| `feed`: the reports and stimuli lists | yes | yes (masked: money-free) | yes | yes |
| `host`: the host page and its seller card | yes | no | its own seller only | no |
| `review`: retrospective, exports, group health, membership | yes | no | no | yes |
| `replay` | yes | yes (masked: money-free frames) | no | yes |
| `poster`: a report's PNG | yes | yes (masked: the masked poster) | yes | yes |
| `settings`: the campaign's settings JSON | yes | no | no | no |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

LinkKind = Literal["wall", "host", "review"]
KINDS: tuple[LinkKind, ...] = ("wall", "host", "review")
Area = Literal["screen", "socket", "host", "review", "replay", "poster", "settings", "feed"]

KIND_LABELS = {"wall": "作战大屏", "host": "团长助手", "review": "复盘与导出"}

# Which areas each link kind opens. "feed": the reports and stimuli lists (masked for
# a masked wall); "socket": the live WebSocket; "screen": the big screen page, its
# chart and the snapshot API.
_OPENS: dict[str, frozenset[str]] = {
    "wall": frozenset({"screen", "socket", "feed", "replay", "poster"}),
    "host": frozenset({"host", "socket", "feed", "poster"}),
    "review": frozenset({"feed", "review", "replay", "poster"}),
}


@dataclass(frozen=True)
class LinkRecord:
    """A stored link (never its token: only the store knows the token's keyed hash)."""

    id: int
    campaign_id: int
    kind: str
    masked: bool
    seller_id: str | None
    label: str
    created_at_ms: int
    expires_at_ms: int | None
    revoked_at_ms: int | None
    last_used_ms: int | None

    def live_at(self, now_ms: int) -> bool:
        if self.revoked_at_ms is not None:
            return False
        return self.expires_at_ms is None or now_ms < self.expires_at_ms

    def state(self, now_ms: int) -> Literal["active", "revoked", "expired"]:
        if self.revoked_at_ms is not None:
            return "revoked"
        return "active" if self.live_at(now_ms) else "expired"


@dataclass(frozen=True)
class Access:
    """What one request (or socket) may see: the full viewer capability (the v1
    viewer token or the admin), or one link's scope."""

    kind: Literal["full", "wall", "host", "review"] = "full"
    masked: bool = False
    seller_id: str | None = None
    link_id: int | None = None

    def allows(self, area: Area) -> bool:
        if self.kind == "full":
            return True
        return area in _OPENS.get(self.kind, frozenset())


FULL = Access()


def access_of(link: LinkRecord) -> Access:
    kind = link.kind if link.kind in KINDS else "review"
    return Access(
        kind=kind,
        masked=link.masked and link.kind == "wall",
        seller_id=link.seller_id if link.kind == "host" else None,
        link_id=link.id,
    )


def link_path(slug: str, kind: str, token: str) -> str:
    """The path a link opens (its scope travels in the token, not in the URL: a masked
    wall is masked by the server whatever its URL says)."""
    t = quote(token, safe="")
    if kind == "host":
        return f"/c/{slug}/host?token={t}"
    if kind == "review":
        return f"/c/{slug}/review?token={t}"
    return f"/c/{slug}?token={t}"


_CONTROL = {*range(0x00, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, 0x061C}
_CONTROL |= {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def has_control(text: str) -> bool:
    """Control and bidi-override characters: never in an id or a label we show."""
    return any(ord(ch) in _CONTROL for ch in text)
