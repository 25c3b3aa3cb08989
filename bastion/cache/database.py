"""The database backend: PostgreSQL or SQLite through the app's SQLAlchemy engine.

    App(plugins=[SQLAlchemyPlugin(), CachePlugin("database")])

Entries are rows of ``bastion_cache`` and tags rows of ``bastion_cache_tags``
(``_db_schema.py``; ``bastion db upgrade`` creates them from the migration in
``bastion/cache/migrations/``, as the jobs battery ships its tables). Every operation is one
statement (an upsert for ``set``, ``add`` and ``incr``, so concurrent writers need no lock),
``invalidate_tags`` two in one transaction. Expired rows are ignored when read and deleted
about once a minute, with tag rows whose entry is gone. A database that is unreachable, or
slower than ``timeout``, is ``BackendUnavailable``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, null, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bastion.cache._codec import is_integer
from bastion.cache._db_schema import entries, metadata, tags
from bastion.cache.backend import BackendUnavailable
from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from bastion.db.plugin import SQLAlchemyPlugin

__all__ = ["MIGRATIONS", "DatabaseBackend", "metadata"]

#: The folder of the cache tables' migrations: an Alembic branch labelled ``bastion_cache``.
MIGRATIONS = Path(__file__).parent / "migrations"
_PURGE_EVERY = 60.0
_BIGINT = 2**63
_c = entries.c
_NOW: Any = bindparam("now")
_LIVE = or_(_c.expires_at.is_(None), _c.expires_at > _NOW)
_EXPIRED = and_(_c.expires_at.is_not(None), _c.expires_at <= _NOW)

_GET = select(_c.key, _c.value, _c.number).where(
    _c.key.in_(bindparam("keys", expanding=True)), _LIVE
)
_DELETE = delete(entries).where(_c.key == bindparam("b_key"), _LIVE)
_DELETE_IF = delete(entries).where(_c.key == bindparam("b_key"), _c.value == bindparam("b_value"))
_TOUCH = (
    update(entries)
    .where(_c.key == bindparam("b_key"), _LIVE)
    .values(expires_at=bindparam("b_expires"))
)
_CLEAR = delete(entries).where(func.substr(_c.key, 1, bindparam("length")) == bindparam("prefix"))
_CLEAR_TAGS = delete(tags).where(
    func.substr(tags.c.key, 1, bindparam("length")) == bindparam("prefix")
)
_INVALIDATE = delete(entries).where(
    _c.key.in_(select(tags.c.key).where(tags.c.tag.in_(bindparam("tags", expanding=True))))
)
_INVALIDATE_TAGS = delete(tags).where(tags.c.tag.in_(bindparam("tags", expanding=True)))
_PURGE = delete(entries).where(_EXPIRED)
_PURGE_TAGS = delete(tags).where(~exists().where(_c.key == tags.c.key))


def _statements(insert: Any) -> dict[str, Any]:
    """The upserts, written once per dialect (PostgreSQL and SQLite share the syntax)."""
    values: dict[str, Any] = {
        "key": bindparam("b_key"),
        "value": bindparam("b_value"),
        "number": bindparam("b_number"),
        "expires_at": bindparam("b_expires"),
    }
    new = insert(entries).values(values)
    replace = {
        "value": new.excluded.value,
        "number": new.excluded.number,
        "expires_at": new.excluded.expires_at,
    }
    expired = and_(_c.expires_at.is_not(None), _c.expires_at <= _NOW)
    return {
        "set": new.on_conflict_do_update(index_elements=[_c.key], set_=replace),
        "add": new.on_conflict_do_update(
            index_elements=[_c.key], set_=replace, where=expired
        ).returning(_c.key),
        "incr": new.on_conflict_do_update(
            index_elements=[_c.key],
            set_={
                "number": case(
                    (expired, new.excluded.number), else_=_c.number + new.excluded.number
                ),
                "value": case((expired, null()), else_=_c.value),
                "expires_at": case((expired, new.excluded.expires_at), else_=_c.expires_at),
            },
        ).returning(_c.number),
        "tag": insert(tags)
        .values(tag=bindparam("b_tag"), key=bindparam("b_key"))
        .on_conflict_do_nothing(),
    }


class DatabaseBackend:
    """A ``CacheBackend`` on the app's database (``CachePlugin("database")``), or given a
    ``SQLAlchemyPlugin``, an ``AsyncEngine`` or a URL."""

    shared = True

    def __init__(
        self, database: SQLAlchemyPlugin | AsyncEngine | str, *, timeout: float = 1.0
    ) -> None:
        from bastion.db.plugin import SQLAlchemyPlugin

        if isinstance(database, SQLAlchemyPlugin):
            database.include_migrations(MIGRATIONS, metadata)  # `bastion db upgrade` applies it
        self._source = database
        self.timeout = timeout
        self._engine: AsyncEngine | None = None
        self._own_engine = False
        self._sql: dict[str, Any] = {}
        self._next_purge = 0.0

    def __repr__(self) -> str:
        engine = self._engine
        where = engine.url.render_as_string(hide_password=True) if engine else "not started"
        return f"DatabaseBackend({where})"

    async def start(self) -> None:
        if self._engine is not None:
            return
        from bastion.db.engine import engine_for

        engine, self._own_engine = engine_for(
            self._source, "The database cache", "CachePlugin(...)"
        )
        name = engine.dialect.name
        insert: Any
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgres_insert

            insert = postgres_insert
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            insert = sqlite_insert
        else:
            raise ConfigurationError(
                f"The database cache runs on PostgreSQL and SQLite, not {name}; use "
                "'memory', a redis:// or a memcached:// URL"
            )
        self._sql = _statements(insert)
        self._engine = engine

    async def stop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None and self._own_engine:
            await engine.dispose()
        self._own_engine = False

    def watch_prefix(self, prefix: str) -> None:
        return None

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        engine = self._engine
        if engine is None:
            raise ConfigurationError(
                "The database cache is not started: run the app with its lifespan "
                "(CachePlugin starts it), or await backend.start()"
            )
        try:
            async with asyncio.timeout(self.timeout), engine.begin() as connection:
                yield connection
        except TimeoutError as exc:
            raise BackendUnavailable("the database did not answer in time") from exc
        except (OperationalError, InterfaceError, OSError) as exc:
            raise _missing_tables(exc) or BackendUnavailable(f"database: {exc}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise BackendUnavailable(f"database: {exc}") from exc
            raise _missing_tables(exc) or exc from None

    @staticmethod
    def _row(key: str, value: bytes, expires: float | None) -> dict[str, Any]:
        if is_integer(value):
            number = int(value)
            if -_BIGINT <= number < _BIGINT:
                return {"b_key": key, "b_value": None, "b_number": number, "b_expires": expires}
        return {"b_key": key, "b_value": value, "b_number": None, "b_expires": expires}

    # -- the protocol ----------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        async with self._connect() as connection:
            rows = (await connection.execute(_GET, {"keys": list(keys), "now": time.time()})).all()
        found = {
            row.key: (row.value if row.number is None else str(row.number).encode()) for row in rows
        }
        return [found.get(key) for key in keys]

    async def set(
        self, key: str, value: bytes, ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        await self.set_many([(key, value)], ttl, tags)

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        now = time.time()
        expires = None if ttl is None else now + ttl
        async with self._connect() as connection:
            await connection.execute(self._sql["set"], [self._row(k, v, expires) for k, v in items])
            if tags:
                await connection.execute(
                    self._sql["tag"], [{"b_tag": t, "b_key": k} for k, _ in items for t in tags]
                )
            if now >= self._next_purge:
                self._next_purge = now + _PURGE_EVERY
                await connection.execute(_PURGE, {"now": now})
                await connection.execute(_PURGE_TAGS)

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        now = time.time()
        row = self._row(key, value, None if ttl is None else now + ttl)
        async with self._connect() as connection:
            result = await connection.execute(self._sql["add"], {**row, "now": now})
            return result.first() is not None

    async def delete(self, key: str) -> bool:
        async with self._connect() as connection:
            result = await connection.execute(_DELETE, {"b_key": key, "now": time.time()})
            return bool(result.rowcount)

    async def delete_if(self, key: str, value: bytes) -> bool:
        async with self._connect() as connection:
            result = await connection.execute(_DELETE_IF, {"b_key": key, "b_value": value})
            return bool(result.rowcount)

    async def incr(self, key: str, delta: int, ttl: float | None) -> int:
        now = time.time()
        row = {
            "b_key": key,
            "b_value": None,
            "b_number": delta,
            "b_expires": None if ttl is None else now + ttl,
            "now": now,
        }
        async with self._connect() as connection:
            number = (await connection.execute(self._sql["incr"], row)).scalar()
        if number is None:
            raise TypeError(f"cache key {key!r} holds a value that is not an integer")
        return int(number)

    async def touch(self, key: str, ttl: float | None) -> bool:
        now = time.time()
        expires = None if ttl is None else now + ttl
        async with self._connect() as connection:
            result = await connection.execute(
                _TOUCH, {"b_key": key, "b_expires": expires, "now": now}
            )
            return bool(result.rowcount)

    async def clear(self, prefix: str) -> None:
        params = {"length": len(prefix), "prefix": prefix}
        async with self._connect() as connection:
            await connection.execute(_CLEAR, params)
            await connection.execute(_CLEAR_TAGS, params)

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        params = {"tags": list(tags)}
        async with self._connect() as connection:
            await connection.execute(_INVALIDATE, params)
            await connection.execute(_INVALIDATE_TAGS, params)


def _missing_tables(exc: Exception) -> ConfigurationError | None:
    """The cache tables were never created: say how to create them."""
    text = str(getattr(exc, "orig", exc)).lower()
    if "bastion_cache" in text and ("no such table" in text or "does not exist" in text):
        return ConfigurationError(
            "The cache tables do not exist in this database: run `bastion --app <app> db "
            "upgrade` (after `db init` if the app has no migrations yet), which applies the "
            "cache battery's migration with the app's; in tests, create them with "
            "bastion.cache.database.metadata.create_all"
        )
    return None
