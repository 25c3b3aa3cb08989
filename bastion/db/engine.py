"""The engine: created in the app's lifespan, tuned per backend, checked at start-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bastion.db.errors import translate_data_errors
from bastion.exceptions import ConfigurationError

#: SQLite for web use: concurrent readers (WAL), enforced foreign keys, waits instead of
#: "database is locked" errors. With WAL, synchronous=NORMAL fsyncs at checkpoints instead of
#: at every commit: still safe against corruption, and a commit cut by a power loss (not a
#: crash of the app) may be rolled back. Rails and Django guides recommend the same.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


#: URLs as hosting platforms and tutorials write them, given the async driver.
_ASYNC_DRIVERS = (
    ("postgres://", "postgresql+asyncpg://"),
    ("postgresql://", "postgresql+asyncpg://"),
    ("sqlite://", "sqlite+aiosqlite://"),
)


def async_url(url: str) -> str:
    """``postgres://…``/``postgresql://…`` go through asyncpg, ``sqlite:///…`` through
    aiosqlite; a URL naming its driver is kept."""
    for plain, driver in _ASYNC_DRIVERS:
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


def create_engine(url: str, *, echo: bool = False, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; a malformed URL or a missing driver is a start-up error.
    Values the database refuses raise ``InvalidValue`` (see ``errors.py``)."""
    try:
        parsed = make_url(async_url(url))
        engine = create_async_engine(parsed, echo=echo, **options)
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError(
            f"DATABASE_URL {url!r} is not a database URL ({exc}); use e.g. "
            "sqlite+aiosqlite:///./app.db or postgresql+asyncpg://user:password@host/db"
        ) from None
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"DATABASE_URL {url!r} needs the driver {exc.name!r}: pip install {exc.name}"
        ) from None
    translate_data_errors(engine)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


def engine_for(source: Any, what: str, plugin: str) -> tuple[AsyncEngine, bool]:
    """The engine a battery's database backend uses: the ``SQLAlchemyPlugin``'s (which must
    have started first), an ``AsyncEngine``, or one made from a URL; True when the caller
    made it and so disposes of it. ``what`` and ``plugin`` name the battery in the error."""
    from bastion.db.plugin import SQLAlchemyPlugin

    if isinstance(source, SQLAlchemyPlugin):
        if source.engine is None:
            raise ConfigurationError(
                f"{what} started before the database: list SQLAlchemyPlugin() before "
                f"{plugin} in App(plugins=[...])"
            )
        return source.engine, False
    if isinstance(source, AsyncEngine):
        return source, False
    return create_engine(source), True


def _tune_sqlite(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()
    # The sqlite3 driver's own transaction handling breaks SAVEPOINTs (and so nested
    # transactions and test isolation); SQLAlchemy's documented fix is to turn it off and
    # emit BEGIN ourselves.
    connection.isolation_level = None


def _begin_sqlite(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front (waiting up to busy_timeout for it). A plain
    # (deferred) BEGIN that reads and then writes cannot wait: if another connection wrote in
    # between, SQLite answers "database is locked" at once, a 500 under concurrent writes.
    # Rails and Django (transaction_mode="IMMEDIATE") make the same choice.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


async def check_connection(engine: AsyncEngine) -> None:
    """Open one connection at start-up so a wrong or unreachable database fails loudly."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        shown = engine.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"Cannot connect to the database {shown}: {exc.__class__.__name__}: {exc}. "
            "Check BASTION_DATABASE_URL and that the server is running"
        ) from None
