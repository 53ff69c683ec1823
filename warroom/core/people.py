"""People, roles and who did what (issue 18): pure values and rules, no I/O.

Three roles, each including the one below it:

- `analyst` reads every campaign, the retrospective and the exports; changes nothing;
- `operator` also changes campaigns: settings, rules, templates, links, sources,
  webhooks, firing and approving stimuli;
- `owner` also manages people and API keys and reads the audit.

A request is made by an `Actor`: a person (signed in with email and password), an API
key, the admin token (the break-glass owner credential), the CLI, or the system (the
worker). The web edge names the actor of each request once (`acting`); every audit row
written while the request runs is stamped with it (`current_actor`), so no store call
has to carry it by hand. `asyncio.to_thread` copies the context, so a store called in a
thread sees the request's actor too.
"""

from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

Role = Literal["owner", "operator", "analyst"]
ROLES: tuple[Role, ...] = ("owner", "operator", "analyst")
RANK: dict[str, int] = {"analyst": 1, "operator": 2, "owner": 3}
ROLE_LABELS: dict[str, str] = {"owner": "所有者", "operator": "运营", "analyst": "分析员"}

ActorKind = Literal["user", "key", "token", "cli", "system"]

# Campaign id of an audit row about no campaign (people, keys).
NO_CAMPAIGN = 0


def allows(role: str, need: str) -> bool:
    """True when `role` may do what needs `need` (an unknown role may do nothing)."""
    return RANK.get(role, 0) >= RANK[need]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    label: str  # what the audit shows: an email, "key:<name>", "admin token", ...
    role: Role
    id: int | None = None  # the person's or the key's id


ADMIN_TOKEN = Actor("token", "admin token", "owner")
SYSTEM = Actor("system", "system", "owner")
CLI = Actor("cli", "cli", "owner")

_ACTOR: ContextVar[Actor] = ContextVar("warroom_actor", default=SYSTEM)


def acting(actor: Actor) -> None:
    """The actor of the request (or command) now running."""
    _ACTOR.set(actor)


def current_actor() -> Actor:
    return _ACTOR.get()


def key_label(name: str) -> str:
    return f"key:{name}"


# -- input rules -------------------------------------------------------------------------

EMAIL_MAX = 254
NAME_MAX = 60
PASSWORD_MIN = 10
PASSWORD_MAX = 200

# One "@", a dotted domain, no spaces, quotes, angle brackets or control characters.
_EMAIL = re.compile(r"[\w.+'\-]+@[\w\-]+(?:\.[\w\-]+)+")
# A key's name is a label: letters (any script), digits, spaces and - _ . : ( ).
_NAME = re.compile(r"[\w .:()\-]+")


def _plain(text: str) -> bool:
    """No control, format (bidi overrides, zero-width) or unassigned characters."""
    return all(unicodedata.category(ch) not in ("Cc", "Cf", "Cn", "Co", "Cs") for ch in text)


def normalize_email(text: str) -> str:
    """The stored form of an email (trimmed, lower case), or ValueError saying why."""
    if not isinstance(text, str):
        raise ValueError("email must be a string")
    email = text.strip().lower()
    if not email:
        raise ValueError("email is required")
    if len(email) > EMAIL_MAX:
        raise ValueError(f"email longer than {EMAIL_MAX} characters")
    if not _plain(email) or not _EMAIL.fullmatch(email):
        raise ValueError("not an email address (name@example.com)")
    return email


def check_key_name(text: str) -> str:
    name = text.strip() if isinstance(text, str) else ""
    if not name:
        raise ValueError("name is required")
    if len(name) > NAME_MAX:
        raise ValueError(f"name longer than {NAME_MAX} characters")
    if not _plain(name) or not _NAME.fullmatch(name):
        raise ValueError("name may hold letters, digits, spaces and - _ . : ( ) only")
    return name


def check_password(text: str) -> str:
    if not isinstance(text, str):
        raise ValueError("password must be a string")
    if len(text) < PASSWORD_MIN:
        raise ValueError(f"password shorter than {PASSWORD_MIN} characters")
    if len(text) > PASSWORD_MAX:
        raise ValueError(f"password longer than {PASSWORD_MAX} characters")
    if not _plain(text):
        raise ValueError("password holds control characters")
    return text


def check_role(text: str) -> Role:
    for role in ROLES:
        if text == role:
            return role
    raise ValueError("role must be one of owner, operator, analyst")
