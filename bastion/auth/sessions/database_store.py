"""Sessions in the app's database, in the ``auth_sessions`` table (on ``Model.metadata``,
so ``bastion db revision --autogenerate`` picks it up once this module is imported)."""

from __future__ import annotations

import datetime
import random
from typing import Any

from sqlalchemy import DateTime, LargeBinary, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db import current_session
from bastion.db.model import Model
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError

#: One save in this many also deletes expired rows (Laravel's "lottery").
PURGE_ODDS = 100


class SessionRow(Model):
    __tablename__ = "auth_sessions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), index=True)
    #: Who is logged in (for listing and ending a user's sessions); None when anonymous.
    subject: Mapped[str | None] = mapped_column(String(64), index=True, default=None)


class DatabaseStore:
    """``SessionPlugin(DatabaseStore(database))`` with ``database`` the app's
    ``SQLAlchemyPlugin``; each operation is a short transaction of its own."""

    def __init__(self, database: SQLAlchemyPlugin) -> None:
        self.database = database

    def _sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.database.sessions is None:
            raise RuntimeError("DatabaseStore: the database is not started")
        return self.database.sessions

    async def open(self) -> None:
        engine = self.database.engine
        if engine is not None and engine.dialect.name not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"DatabaseStore supports SQLite and PostgreSQL, not {engine.dialect.name}; "
                "use RedisStore for sessions"
            )

    async def close(self) -> None:
        return None

    async def load(self, key: str) -> bytes | None:
        async with self._sessions()() as db:
            query = select(SessionRow.data).where(
                SessionRow.key == key, SessionRow.expires_at > _now()
            )
            return await db.scalar(query)

    async def save(self, key: str, value: bytes, ttl: int) -> None:
        expires = _now() + datetime.timedelta(seconds=ttl)
        async with self._sessions()() as db:
            await db.execute(_upsert(db, key, value, expires))
            if random.randrange(PURGE_ODDS) == 0:
                expired = delete(SessionRow).where(SessionRow.expires_at <= _now())
                await db.execute(expired.execution_options(synchronize_session=False))
            await db.commit()

    async def delete(self, key: str) -> None:
        async with self._sessions()() as db:
            await db.execute(delete(SessionRow).where(SessionRow.key == key))
            await db.commit()

    async def index(self, subject: str, key: str, ttl: int) -> None:
        async with self._sessions()() as db:
            await db.execute(
                update(SessionRow).where(SessionRow.key == key).values(subject=subject)
            )
            await db.commit()

    async def records_of(self, subject: str) -> list[tuple[str, bytes]]:
        query = select(SessionRow.key, SessionRow.data).where(
            SessionRow.subject == subject, SessionRow.expires_at > _now()
        )
        request_db = current_session()
        if request_db is not None:  # a handler's: SQLite allows one writer, the request
            rows = (await request_db.execute(query)).all()
        else:
            async with self._sessions()() as db:
                rows = (await db.execute(query)).all()
        return sorted((row[0], row[1]) for row in rows)

    async def end(self, subject: str, keys: list[str]) -> None:
        """Deleted with the request's transaction when there is one (so with its answer)."""
        statement = delete(SessionRow).where(
            SessionRow.subject == subject, SessionRow.key.in_(keys)
        )
        request_db = current_session()
        if request_db is not None:
            await request_db.execute(statement)
            return
        async with self._sessions()() as db:
            await db.execute(statement)
            await db.commit()

    async def purge(self) -> int:
        """Delete expired sessions now (for a periodic job); returns how many."""
        async with self._sessions()() as db:
            result: Any = await db.execute(
                delete(SessionRow).where(SessionRow.expires_at <= _now())
            )
            await db.commit()
            return int(result.rowcount or 0)


def _upsert(db: AsyncSession, key: str, value: bytes, expires: datetime.datetime) -> Any:
    """INSERT … ON CONFLICT UPDATE, in the dialect's own words (SQLite and PostgreSQL)."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        raise ConfigurationError(f"DatabaseStore supports SQLite and PostgreSQL, not {dialect}")
    statement = insert(SessionRow).values(key=key, data=value, expires_at=expires)
    return statement.on_conflict_do_update(
        index_elements=[SessionRow.key], set_={"data": value, "expires_at": expires}
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
