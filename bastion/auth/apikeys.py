"""API keys: random, shown once, stored hashed, scoped, revocable.

A key reads ``bst_<lookup>_<secret>``: the lookup part finds the row by an index, the
SHA-256 of the whole key is compared in constant time. SHA-256 rather than argon2 because
the secret is 256 random bits: there is nothing to brute-force, and every request pays the
check. The table (``auth_api_keys``) joins ``Model.metadata`` when this module is imported.

    keys = APIKeyAuth(database)
    new = await keys.create(db, owner="42", scopes=["reports:read"], name="CI")
    new.key        # give it to the user now: only its hash is kept
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion.auth.identity import Identity
from bastion.db.model import Model
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError, Unauthorized

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.http.connection import HTTPConnection

_SHAPE = re.compile(r"[a-z]{1,8}_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class APIKey(Model):
    """One issued key; ``owner`` is the subject (user id, as text) it authenticates as."""

    __tablename__ = "auth_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    lookup: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )


@dataclass(frozen=True)
class NewAPIKey:
    """A freshly created key: ``key`` is the only copy of the secret."""

    key: str
    record: APIKey


class APIKeyAuth:
    """Authenticates ``X-API-Key: bst_...`` (header configurable) against ``auth_api_keys``."""

    name = "api_key"

    def __init__(
        self, database: SQLAlchemyPlugin, *, header: str = "X-API-Key", prefix: str = "bst"
    ) -> None:
        if not re.fullmatch(r"[a-z]{1,8}", prefix):
            raise ConfigurationError(f"APIKeyAuth(prefix={prefix!r}): use 1 to 8 lowercase letters")
        self.database = database
        self.header = header
        self.prefix = prefix

    def setup(self, app: App[Any]) -> None:
        if self.database not in app.plugins:
            raise ConfigurationError(
                "APIKeyAuth(database) needs that SQLAlchemyPlugin in the same App(plugins=[...])"
            )

    async def create(
        self,
        db: AsyncSession,
        *,
        owner: str,
        scopes: Iterable[str] = (),
        name: str = "",
        expires_at: datetime.datetime | None = None,
    ) -> NewAPIKey:
        """Issue a key for ``owner`` with ``scopes``; add it to ``db`` (commit is yours)."""
        lookup = secrets.token_hex(8)
        key = f"{self.prefix}_{lookup}_{secrets.token_urlsafe(32)}"
        record = APIKey(
            owner=owner,
            name=name,
            lookup=lookup,
            key_hash=_digest(key),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        db.add(record)
        await db.flush()
        return NewAPIKey(key, record)

    async def revoke(self, db: AsyncSession, key_id: int) -> bool:
        """Revoke a key at once; False if there was no such (live) key."""
        result: Any = await db.execute(
            update(APIKey)
            .where(APIKey.id == key_id, APIKey.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        return bool(result.rowcount)

    async def owned_by(self, db: AsyncSession, owner: str) -> list[APIKey]:
        """``owner``'s keys, newest first (revoked and expired ones included)."""
        rows = await db.scalars(
            select(APIKey).where(APIKey.owner == owner).order_by(APIKey.id.desc())
        )
        return list(rows)

    async def rotate(
        self, db: AsyncSession, record: APIKey, *, overlap: datetime.timedelta
    ) -> NewAPIKey:
        """A new key with ``record``'s owner, name and scopes; ``record`` stays valid for
        ``overlap`` more (so clients can switch without downtime), then expires."""
        new = await self.create(
            db,
            owner=record.owner,
            scopes=record.scopes,
            name=record.name,
            expires_at=record.expires_at,
        )
        until = _now() + overlap
        if record.expires_at is None or _aware(record.expires_at) > until:
            record.expires_at = until
        await db.flush()
        return new

    async def authenticate(self, connection: HTTPConnection) -> Identity | None:
        presented = connection.headers.get(self.header)
        if presented is None:
            return None
        match = _SHAPE.fullmatch(presented.strip())
        if match is None or not presented.startswith(self.prefix + "_"):
            raise self._invalid("The API key is malformed")
        if self.database.sessions is None:
            raise RuntimeError("APIKeyAuth: the database is not started")
        async with self.database.sessions() as db:
            record = await db.scalar(select(APIKey).where(APIKey.lookup == match.group(1)))
        digest = _digest(presented.strip())
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            raise self._invalid("The API key is not valid")
        if record.revoked_at is not None:
            raise self._invalid("The API key has been revoked")
        expires = record.expires_at
        if expires is not None and _aware(expires) <= _now():
            raise self._invalid("The API key has expired")
        return Identity(record.owner, self.name, frozenset(record.scopes or ()))

    def challenge(self) -> str:
        return f'ApiKey header="{self.header}"'

    def scheme(self) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": self.header}

    def _invalid(self, detail: str) -> Unauthorized:
        challenge = f'ApiKey header="{self.header}", error="invalid_key"'
        return Unauthorized(detail, headers={"www-authenticate": challenge})


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _aware(moment: datetime.datetime) -> datetime.datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)
