"""``SQLAlchemyPlugin``: an engine for the app's lifespan and a session per request.

Handlers ask for ``db: AsyncSession``; the session commits when the handler succeeds (then
its ``on_commit`` callbacks run) and rolls back when it raises, and always goes back to the
pool.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData
from sqlalchemy.exc import DataError, IntegrityError, NoResultFound
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool, QueuePool

from bastion.db import _current
from bastion.db._direct import allow_direct_reads, end_direct_reads, idle
from bastion.db._lazy import RequestSession, enable_lazy_transactions, supports_lazy_transactions
from bastion.db.engine import check_connection, create_engine
from bastion.db.errors import answer_invalid_value
from bastion.db.transactions import drop_pending, run_pending
from bastion.exceptions import (
    ConfigurationError,
    Conflict,
    HTTPError,
    NotFound,
    ValidationError,
)
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response

if TYPE_CHECKING:
    from bastion.app import App


class SQLAlchemyPlugin:
    """``App(plugins=[SQLAlchemyPlugin()])``; the URL comes from the argument, else the
    ``database_url`` setting, else ``BASTION_DATABASE_URL`` (for settings not built with
    ``Settings.load``) or the platforms' ``DATABASE_URL``, else
    ``sqlite+aiosqlite:///./<app_name>.db``. ``postgres://`` and ``sqlite://`` URLs get
    their async drivers (asyncpg, aiosqlite)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        echo: bool = False,
        metadata: MetaData | None = None,
        seed: Callable[[AsyncSession], Awaitable[Any]] | None = None,
        migrations: str | os.PathLike[str] = "migrations",
        autocommit_reads: bool = True,
        **engine_options: Any,
    ):
        self.url = url
        self.echo = echo
        #: On PostgreSQL, a request's reads run in autocommit until its first write opens the
        #: transaction (see bastion/db/_lazy.py); False puts every request in one transaction.
        self.autocommit_reads = autocommit_reads
        #: The models' metadata for migrations (default: ``bastion.db.Model.metadata``).
        self.metadata = metadata
        #: ``bastion db seed`` runs it with a session, then commits.
        self.seed = seed
        #: The Alembic folder ``bastion db`` uses unless given ``--directory``.
        self.migrations = migrations
        self.engine_options = engine_options
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        self._turns: asyncio.Semaphore | None = None

    def on_app_init(self, app: App[Any]) -> None:
        if self.url is None:
            default = f"sqlite+aiosqlite:///./{app.settings.app_name}.db"
            environ = os.environ
            self.url = (
                app.settings.database_url
                or environ.get("BASTION_DATABASE_URL")
                or environ.get("DATABASE_URL", default)
            )
        app.lifespan_contexts.append(self._lifespan)
        from bastion.db.migrations import db_commands

        app.cli_commands.append(db_commands(self, app))
        app.provide(AsyncSession, self.session)
        app.exception_handlers.setdefault(IntegrityError, _conflict)
        app.exception_handlers.setdefault(NoResultFound, _not_found)
        app.exception_handlers.setdefault(DataError, answer_invalid_value)

    @asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        assert self.url is not None
        self.engine = create_engine(self.url, echo=self.echo, **self.engine_options)
        session_class = Session
        if self.autocommit_reads and supports_lazy_transactions(self.engine):
            enable_lazy_transactions(self.engine)
            session_class = RequestSession
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        self._turns = _turns_for(self.engine.pool)
        try:
            await check_connection(self.engine)
            yield
        finally:
            await self.engine.dispose()
            self.engine = self.sessions = self._turns = None

    async def session(self, request: Request) -> AsyncIterator[AsyncSession]:
        """One session per request: committed after the handler succeeds and before the
        response is built (so a failing commit is answered, not hidden behind a 200), rolled
        back when anything raises."""
        if self.sessions is None:
            raise ConfigurationError(
                "The database is not started: run the app with its lifespan "
                "(a server, `with TestClient(app)`, or `async with app.lifespan()`)"
            )
        turn = _Turn(self._turns)
        await turn.take()
        session = self.sessions()
        allow_direct_reads(session)
        current = _current.enter(session)  # bastion.db.current_session() until the end

        async def finish() -> None:
            """After the handler: commit (then ``on_commit`` callbacks run), then give the
            connection and the turn to the next request while the response is still being
            built and sent."""
            if not idle(session.sync_session):
                await session.commit()
            else:
                await run_pending(session)
            end_direct_reads(session)
            turn.give_up()

        try:
            if request.before_send is None:
                request.before_send = []
            request.before_send.append(finish)
            yield session
        except BaseException:
            await session.rollback()
            raise
        finally:
            try:
                drop_pending(session)  # the handler or the commit failed: nothing happened
                end_direct_reads(session)
                if session.in_transaction() or session.sync_session.identity_map:
                    await asyncio.shield(session.close())  # a connection must go back
            finally:
                _current.leave(current)
                turn.give_up()


class _Turn:
    """A request's place in the queue for the pool's connections (see ``_turns_for``),
    given up once: when its handler is done, or at the latest at teardown."""

    __slots__ = ("turns",)

    def __init__(self, turns: asyncio.Semaphore | None) -> None:
        self.turns = turns

    async def take(self) -> None:
        if self.turns is not None:
            await self.turns.acquire()

    def give_up(self) -> None:
        turns, self.turns = self.turns, None
        if turns is not None:
            turns.release()


def _turns_for(pool: Pool) -> asyncio.Semaphore | None:
    """Requests wait for a connection in arrival order. SQLAlchemy's pool hands a returned
    connection to whoever asks first, so under more requests than connections a waiting
    request can be overtaken again and again (seconds-long tails under load); a FIFO
    semaphore sized to the pool keeps the pool from ever making anyone wait."""
    if not isinstance(pool, QueuePool) or pool._max_overflow < 0:  # unbounded: nothing to share
        return None
    return asyncio.Semaphore(pool.size() + pool._max_overflow)


def _conflict(request: Request, exc: IntegrityError) -> Response:
    """A rule the database enforced, answered without the SQL or the values: a missing
    referenced row is 422 (the request names something that does not exist), anything else
    (uniqueness above all) is 409."""
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    error: HTTPError
    if "foreign key" in text or "foreignkeyviolation" in text:
        error = ValidationError(
            [{"field": "body", "reason": "A referenced row does not exist"}],
            "The change refers to a row that does not exist",
        )
    else:
        error = Conflict("The change conflicts with existing data (a uniqueness rule)")
    return ProblemResponse(error.problem(), error.status_code)


def _not_found(request: Request, exc: NoResultFound) -> Response:
    """``.one()`` found nothing: the row the request names does not exist (Rails answers
    its RecordNotFound the same way)."""
    error = NotFound("The requested row does not exist")
    return ProblemResponse(error.problem(), error.status_code)
