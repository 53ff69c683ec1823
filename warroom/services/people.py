"""People and API keys (issue 18): add, change role, remove, sign in, change a
password; make, use and revoke API keys. Every change is audited with its actor.

- Passwords are hashed with Argon2id (pwdlib), off the event loop. A sign-in for an
  unknown email verifies against a dummy hash, so both take the same time.
- API keys are high-entropy random tokens; they are stored as HMAC-SHA256 under a
  server secret and looked up by that hash. Their last use is written at most once a
  minute.
- The last owner cannot be removed or demoted (the admin token would still get in,
  but a deployment without one would be locked out of its people).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from warroom.adapters.clock import Clock
from warroom.adapters.sql.people_store import EmailTaken, KeyRecord, PeopleStore, UserRecord
from warroom.core.people import (
    NO_CAMPAIGN,
    Actor,
    check_key_name,
    check_password,
    check_role,
    key_label,
    normalize_email,
)
from warroom.services.ports import CampaignStore
from warroom.services.refusal import Refused

KEY_PREFIX = "wrk_"
TOUCH_EVERY_MS = 60_000

__all__ = ["EmailTaken", "KeyRecord", "People", "UserRecord", "one_time_password"]


def one_time_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


@dataclass(frozen=True)
class NewKey:
    record: KeyRecord
    key: str


def _bad(exc: ValueError) -> Refused:
    return Refused(422, str(exc))


class People:
    def __init__(
        self, store: PeopleStore, audit: CampaignStore, clock: Clock, key_secret: bytes
    ) -> None:
        self.store = store
        self.audit_store = audit
        self.clock = clock
        self._key_secret = key_secret
        self._hasher = PasswordHash((Argon2Hasher(),))
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def _audit(self, action: str, detail: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self.audit_store.audit, NO_CAMPAIGN, self.clock.now_ms(), action, detail
        )

    # -- people --------------------------------------------------------------------------

    async def add(
        self, email: str, role: str, password: str | None = None
    ) -> tuple[UserRecord, str | None]:
        """A new person; returns the one-time password made when none was given."""
        try:
            email = normalize_email(email)
            role = check_role(role)
            made = one_time_password() if password is None else None
            password = check_password(password if password is not None else made or "")
        except ValueError as exc:
            raise _bad(exc) from None
        digest = await asyncio.to_thread(self._hasher.hash, password)
        try:
            user = await asyncio.to_thread(
                self.store.add_user, email, role, digest, self.clock.now_ms()
            )
        except EmailTaken:
            raise Refused(409, f"{email} already has an account") from None
        await self._audit("user_add", {"email": email, "role": role, "user_id": user.id})
        return user, made

    async def users(self) -> list[UserRecord]:
        return await asyncio.to_thread(self.store.users)

    async def get(self, user_id: int) -> UserRecord | None:
        return await asyncio.to_thread(self.store.user, user_id)

    async def _existing(self, user_id: int) -> UserRecord:
        user = await self.get(user_id)
        if user is None:
            raise Refused(404, f"no person {user_id}")
        return user

    async def _keep_an_owner(self, user: UserRecord) -> None:
        if user.role == "owner" and await asyncio.to_thread(self.store.owners) <= 1:
            raise Refused(409, "the last owner cannot be removed or demoted; add another first")

    async def set_role(self, user_id: int, role: str) -> UserRecord:
        try:
            role = check_role(role)
        except ValueError as exc:
            raise _bad(exc) from None
        user = await self._existing(user_id)
        if user.role == role:
            return user
        if role != "owner":
            await self._keep_an_owner(user)
        await asyncio.to_thread(self.store.set_role, user_id, role)
        await self._audit(
            "user_role", {"email": user.email, "user_id": user_id, "role": [user.role, role]}
        )
        return await self._existing(user_id)

    async def remove(self, user_id: int) -> UserRecord:
        user = await self._existing(user_id)
        await self._keep_an_owner(user)
        await asyncio.to_thread(self.store.remove_user, user_id)
        await self._audit("user_remove", {"email": user.email, "user_id": user_id})
        return user

    async def authenticate(self, email: str, password: str) -> UserRecord | None:
        """The person for this email and password, or None. The same work either way."""
        try:
            email = normalize_email(email)
        except ValueError:
            email = ""
        user = await asyncio.to_thread(self.store.user_by_email, email) if email else None
        digest = user.password_hash if user is not None else self._dummy
        ok = await asyncio.to_thread(self._hasher.verify, password[:256], digest)
        return user if ok and user is not None else None

    async def change_password(self, user_id: int, current: str, new: str) -> UserRecord:
        """The person's own change: the current password, then the new one. Every
        session of theirs ends (a session is bound to the password's hash)."""
        user = await self._existing(user_id)
        ok = await asyncio.to_thread(self._hasher.verify, current[:256], user.password_hash)
        if not ok:
            raise Refused(403, "the current password is not right")
        try:
            new = check_password(new)
        except ValueError as exc:
            raise _bad(exc) from None
        digest = await asyncio.to_thread(self._hasher.hash, new)
        await asyncio.to_thread(self.store.set_password, user_id, digest)
        await self._audit("user_password", {"email": user.email, "user_id": user_id})
        return await self._existing(user_id)

    # -- API keys ------------------------------------------------------------------------

    def key_hash(self, key: str) -> str:
        return hmac.new(self._key_secret, key.encode(), hashlib.sha256).hexdigest()

    async def add_key(self, name: str, role: str) -> NewKey:
        try:
            name = check_key_name(name)
            role = check_role(role)
        except ValueError as exc:
            raise _bad(exc) from None
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = await asyncio.to_thread(
            self.store.add_key, name, role, self.key_hash(key), self.clock.now_ms()
        )
        await self._audit("key_add", {"name": name, "role": role, "key_id": record.id})
        return NewKey(record, key)

    async def keys(self) -> list[KeyRecord]:
        return await asyncio.to_thread(self.store.keys)

    async def revoke_key(self, key_id: int) -> KeyRecord:
        record = await asyncio.to_thread(self.store.key, key_id)
        if record is None:
            raise Refused(404, f"no API key {key_id}")
        await asyncio.to_thread(self.store.remove_key, key_id)
        await self._audit("key_revoke", {"name": record.name, "key_id": key_id})
        return record

    async def key_actor(self, key: str) -> Actor | None:
        """The actor an API key stands for, or None (not a key, or revoked)."""
        if not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        record = await asyncio.to_thread(self.store.key_by_hash, self.key_hash(key))
        if record is None:
            return None
        now = self.clock.now_ms()
        if record.last_used_ms is None or now - record.last_used_ms >= TOUCH_EVERY_MS:
            await asyncio.to_thread(self.store.touch_key, record.id, now)
        role = check_role(record.role)
        return Actor("key", key_label(record.name), role, record.id)


def user_actor(user: UserRecord) -> Actor:
    return Actor("user", user.email, check_role(user.role), user.id)
