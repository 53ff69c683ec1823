"""People and API keys in SQL (issue 18). Rows hold hashes only: an Argon2id hash of
each password, a keyed hash (HMAC-SHA256) of each API key. A key is found by its hash,
an equality lookup in the database, never by comparing secrets in Python."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from warroom.adapters.sql.tables import ApiKeyRow, UserRow


class EmailTaken(Exception):
    pass


@dataclass(frozen=True)
class UserRecord:
    id: int
    email: str
    role: str
    password_hash: str
    created_at_ms: int


@dataclass(frozen=True)
class KeyRecord:
    id: int
    name: str
    role: str
    created_at_ms: int
    last_used_ms: int | None


def _user(r: object) -> UserRecord:
    return UserRecord(r.id, r.email, r.role, r.password_hash, r.created_at_ms)  # type: ignore[attr-defined]


def _key(r: object) -> KeyRecord:
    return KeyRecord(r.id, r.name, r.role, r.created_at_ms, r.last_used_ms)  # type: ignore[attr-defined]


class PeopleStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # people

    def add_user(self, email: str, role: str, password_hash: str, now_ms: int) -> UserRecord:
        t = UserRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    t.insert().values(
                        email=email, role=role, password_hash=password_hash, created_at_ms=now_ms
                    )
                )
        except IntegrityError:
            raise EmailTaken(email) from None
        found = self.user_by_email(email)
        assert found is not None
        return found

    def user(self, user_id: int) -> UserRecord | None:
        t = UserRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == user_id)).first()
        return _user(row) if row else None

    def user_by_email(self, email: str) -> UserRecord | None:
        t = UserRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.email == email)).first()
        return _user(row) if row else None

    def users(self) -> list[UserRecord]:
        t = UserRow.__table__
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(t).order_by(t.c.id)).all()]

    def owners(self) -> int:
        t = UserRow.__table__
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(t).where(t.c.role == "owner"))
            return int(n.scalar_one())

    def set_role(self, user_id: int, role: str) -> bool:
        t = UserRow.__table__
        with self.engine.begin() as conn:
            n = conn.execute(t.update().where(t.c.id == user_id).values(role=role)).rowcount
        return bool(n)

    def set_password(self, user_id: int, password_hash: str) -> bool:
        t = UserRow.__table__
        with self.engine.begin() as conn:
            n = conn.execute(
                t.update().where(t.c.id == user_id).values(password_hash=password_hash)
            ).rowcount
        return bool(n)

    def remove_user(self, user_id: int) -> bool:
        t = UserRow.__table__
        with self.engine.begin() as conn:
            return bool(conn.execute(t.delete().where(t.c.id == user_id)).rowcount)

    # API keys

    def add_key(self, name: str, role: str, key_hash: str, now_ms: int) -> KeyRecord:
        t = ApiKeyRow.__table__
        with self.engine.begin() as conn:
            res = conn.execute(
                t.insert().values(name=name, role=role, key_hash=key_hash, created_at_ms=now_ms)
            )
            inserted = res.inserted_primary_key
            assert inserted is not None
            key_id = inserted[0]
        return KeyRecord(int(key_id), name, role, now_ms, None)

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        t = ApiKeyRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.key_hash == key_hash)).first()
        return _key(row) if row else None

    def touch_key(self, key_id: int, now_ms: int) -> None:
        t = ApiKeyRow.__table__
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == key_id).values(last_used_ms=now_ms))

    def keys(self) -> list[KeyRecord]:
        t = ApiKeyRow.__table__
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(select(t).order_by(t.c.id)).all()]

    def key(self, key_id: int) -> KeyRecord | None:
        t = ApiKeyRow.__table__
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == key_id)).first()
        return _key(row) if row else None

    def remove_key(self, key_id: int) -> bool:
        t = ApiKeyRow.__table__
        with self.engine.begin() as conn:
            return bool(conn.execute(t.delete().where(t.c.id == key_id)).rowcount)
