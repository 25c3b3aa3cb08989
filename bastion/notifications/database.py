"""The ``database`` channel: notifications stored in the app's database, and ``Inbox`` to
read and mark them.

    unread = await inbox.unread_count(user)
    page = await inbox.list(user, unread=True, limit=20)
    await inbox.mark_read(user, page[0].id)
    await inbox.mark_all_read(user)

The table is ``bastion_notifications`` (``_schema.py``); ``bastion db upgrade`` creates it
from the migration in ``bastion/notifications/migrations/``, as the jobs battery ships its
tables. Inside a request that uses the database session, every statement runs in the
request's transaction: a notification stored by a request that fails never exists, and on
SQLite no second writer waits for the request's own lock.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bastion.exceptions import ConfigurationError
from bastion.notifications._schema import metadata, notifications
from bastion.notifications.notification import notifiable_key

if TYPE_CHECKING:
    from bastion.db import Prepared
    from bastion.db.plugin import SQLAlchemyPlugin

__all__ = ["MIGRATIONS", "Inbox", "StoredNotification", "metadata"]

#: The folder of the table's migrations: an Alembic branch labelled ``bastion_notifications``.
MIGRATIONS = Path(__file__).parent / "migrations"
_table = notifications
_INSERT = insert(_table)


@functools.cache
def _store_one() -> Prepared:
    """One notification's row as a prepared write (on PostgreSQL it runs on the driver inside
    the request's transaction); built on first use, as ``bastion.db`` is imported lazily."""
    from bastion.db import Prepared

    columns = ("id", "notifiable", "type", "data", "created_at", "read_at")
    # Parameters named after the columns they fill, with "_": a column's own name is taken.
    return Prepared(insert(_table).values({name: bindparam(name + "_") for name in columns}))


_decode = msgspec.json.decode
#: What ``notify`` gives a notification: 32 hex digits. Anything else names none, and is not
#: sent to the database (PostgreSQL refuses text holding NUL, for one).
_ID = re.compile(r"[0-9a-f]{32}")


#: A time in UTC, written in ISO 8601 with its offset (``date-time`` in the OpenAPI document).
Moment = Annotated[datetime, msgspec.Meta(tz=True)]


class StoredNotification(msgspec.Struct, frozen=True):
    """One notification as the database channel keeps it, the routes answer it and
    broadcasts push it: ``read_at`` is null until the user reads it."""

    id: str
    type: str
    data: Any
    created_at: Moment
    read_at: Moment | None


def moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Inbox:
    """A user's stored notifications: list them, count and mark the unread ones. Handlers ask
    for ``inbox: Inbox``; other code uses ``NotificationsPlugin.inbox``."""

    def __init__(self, database: SQLAlchemyPlugin | AsyncEngine) -> None:
        from bastion.db.plugin import SQLAlchemyPlugin

        if isinstance(database, SQLAlchemyPlugin):
            database.include_migrations(MIGRATIONS, metadata)  # `bastion db upgrade` applies it
        self._source = database

    def __repr__(self) -> str:
        return f"<Inbox {self._source!r}>"

    @property
    def engine(self) -> AsyncEngine:
        source = self._source
        engine = source if isinstance(source, AsyncEngine) else source.engine
        if engine is None:
            raise ConfigurationError(
                "The notifications inbox is used before the database started: run the app "
                "with its lifespan (a server, `with TestClient(app)`, `async with app.lifespan()`)"
            )
        return engine

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncSession | AsyncConnection]:
        """The request's session when it is on this database (its transaction commits the
        work), else a connection of our own, committed on leaving."""
        from bastion.db import current_session

        engine = self.engine
        session = current_session()
        if session is not None:
            bind = session.bind  # the engine, or a connection of it (tests' isolation)
            if bind is engine or getattr(bind, "engine", None) is engine:
                yield session
                return
        try:
            async with engine.begin() as connection:
                yield connection
        except DBAPIError as exc:
            raise _missing_table(exc) or exc from None

    # -- writing (the channel) ---------------------------------------------------------------

    async def store(self, rows: list[dict[str, Any]]) -> None:
        """Insert rows made by ``row``: one statement for every recipient of a notification."""
        if rows:
            async with self._connect() as db:
                try:
                    if isinstance(db, AsyncSession) and len(rows) == 1:
                        values = {name + "_": value for name, value in rows[0].items()}
                        await _store_one().execute(db, **values)  # in the request's transaction
                    else:
                        await db.execute(_INSERT, rows)  # one executemany for every recipient
                except DBAPIError as exc:
                    raise _missing_table(exc) or exc from None

    @staticmethod
    def row(
        key: str, notification_id: str, kind: str, data: bytes, created_at: float
    ) -> dict[str, Any]:
        return {
            "id": notification_id,
            "notifiable": key,
            "type": kind,
            "data": data.decode(),
            "created_at": created_at,
            "read_at": None,
        }

    # -- reading -----------------------------------------------------------------------------

    async def list(
        self,
        notifiable: Any,
        *,
        unread: bool = False,
        limit: int = 20,
        before: str | None = None,
    ) -> list[StoredNotification]:
        """``notifiable``'s notifications, newest first: ``limit`` of them, only the unread
        ones if asked, and only those older than the notification ``before`` (the last id
        of the previous page; an id that is not theirs gives an empty page)."""
        key = notifiable_key(notifiable)
        query = select(_table).where(_table.c.notifiable == key)
        if unread:
            query = query.where(_table.c.read_at.is_(None))
        if before is not None:
            if not _ID.fullmatch(before):
                return []
            cursor = select(_table.c.created_at).where(
                _table.c.id == before, _table.c.notifiable == key
            )
            at = cursor.scalar_subquery()
            query = query.where(
                or_(
                    _table.c.created_at < at,
                    and_(_table.c.created_at == at, _table.c.id < before),
                )
            )
        query = query.order_by(_table.c.created_at.desc(), _table.c.id.desc()).limit(limit)
        async with self._connect() as db:
            rows = (await db.execute(query)).all()
        return [_stored(row) for row in rows]

    async def get(self, notifiable: Any, notification_id: str) -> StoredNotification | None:
        """One of ``notifiable``'s notifications, or None (unknown, or someone else's)."""
        if not _ID.fullmatch(notification_id):
            return None
        query = select(_table).where(
            _table.c.id == notification_id, _table.c.notifiable == notifiable_key(notifiable)
        )
        async with self._connect() as db:
            row = (await db.execute(query)).first()
        return _stored(row) if row is not None else None

    async def unread_count(self, notifiable: Any) -> int:
        query = select(func.count()).where(
            _table.c.notifiable == notifiable_key(notifiable), _table.c.read_at.is_(None)
        )
        async with self._connect() as db:
            return int((await db.execute(query)).scalar_one())

    # -- marking -----------------------------------------------------------------------------

    async def mark_read(self, notifiable: Any, notification_id: str) -> StoredNotification | None:
        """Mark one notification read (it keeps the time it was first read); None when
        ``notifiable`` has no notification with that id."""
        if not _ID.fullmatch(notification_id):
            return None
        key = notifiable_key(notifiable)
        mine = and_(_table.c.id == notification_id, _table.c.notifiable == key)
        async with self._connect() as db:
            await db.execute(
                update(_table).where(mine, _table.c.read_at.is_(None)).values(read_at=time.time())
            )
            row = (await db.execute(select(_table).where(mine))).first()
        return _stored(row) if row is not None else None

    async def mark_all_read(self, notifiable: Any) -> int:
        """Mark every unread notification of ``notifiable`` read; how many were."""
        statement = (
            update(_table)
            .where(_table.c.notifiable == notifiable_key(notifiable), _table.c.read_at.is_(None))
            .values(read_at=time.time())
        )
        async with self._connect() as db:
            result = await db.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)


def _stored(row: Any) -> StoredNotification:
    return StoredNotification(
        id=row.id,
        type=row.type,
        data=_decode(row.data),
        created_at=moment(row.created_at),
        read_at=moment(row.read_at) if row.read_at is not None else None,
    )


def _missing_table(exc: Exception) -> ConfigurationError | None:
    text = str(exc).lower()
    if "bastion_notifications" in text and ("no such table" in text or "does not exist" in text):
        return ConfigurationError(
            "The table bastion_notifications does not exist: run `bastion db upgrade` (after "
            "`db init` if the app has no migrations yet), which applies the notifications "
            "battery's migration with the app's; in tests, create it with "
            "bastion.notifications.database.metadata.create_all"
        )
    return None
