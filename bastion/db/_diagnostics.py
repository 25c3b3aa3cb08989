"""What a request asked of the database, in the dev profile only: the statements it ran and
their time (a ``Server-Timing`` entry and a log line), and the patterns that make routes slow
(a lazy load, one statement shape repeated: an N+1), reported with the route's name.

Outside dev none of this is installed: no engine or session listener, no endpoint wrapper,
no timed connection, decided when the app starts (``SQLAlchemyPlugin`` asks ``enabled``).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from time import perf_counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import ORMExecuteState, Session

from bastion.db._direct import DirectReads
from bastion.routing.route import WebSocketRoute

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.http.request import Request
    from bastion.http.response import Response
    from bastion.routing._endpoint import CompiledRoute
    from bastion.types import CallNext, Endpoint

logger = logging.getLogger("bastion.db")


class Statements:
    """One request's statements: how many, how long, how often each SQL text ran, and the
    relationships it loaded lazily."""

    __slots__ = ("count", "lazy", "route", "seconds", "shapes")

    def __init__(self) -> None:
        self.route: str | None = None
        self.count = 0
        self.seconds = 0.0
        self.shapes: dict[str, int] = {}
        self.lazy: list[str] = []

    def add(self, sql: str, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        self.shapes[sql] = self.shapes.get(sql, 0) + 1


_recording: ContextVar[Statements | None] = ContextVar("bastion.db.statements", default=None)


def enabled(app: App[Any]) -> bool:
    return app.settings.profile == "dev"


def record(sql: str, seconds: float) -> None:
    statements = _recording.get()
    if statements is not None:
        statements.add(sql, seconds)


class Diagnostics:
    """An app middleware that records each request's statements and reports them, and an
    endpoint wrapper (``app.endpoint_wrappers``) that names the route they ran for.
    Reports are made outside every endpoint wrapper, so a response cache never stores one.
    ``repeated`` is how many runs of one statement shape in a request are reported as an
    N+1 pattern."""

    def __init__(self, repeated: int) -> None:
        self.repeated = repeated

    async def measure(self, request: Request, call_next: CallNext) -> Response:
        statements = Statements()
        token = _recording.set(statements)
        try:
            response = await call_next(request)
        finally:
            _recording.reset(token)
        if statements.count:
            route = statements.route or f"{request.method} {request.scope['path']}"
            report(statements, route, self.repeated, response)
        return response

    def wrap(self, compiled: CompiledRoute) -> Endpoint:
        route, endpoint = compiled.route, compiled.endpoint
        if isinstance(route, WebSocketRoute):
            return endpoint
        name = f"{'|'.join(route.methods)} {route.path} ({route.name})"

        async def named(request: Request) -> Response:
            statements = _recording.get()
            if statements is not None:
                statements.route = name
            return await endpoint(request)

        return named


def report(statements: Statements, route: str, repeated: int, response: Response) -> None:
    milliseconds = statements.seconds * 1000.0
    plural = "" if statements.count == 1 else "s"
    response.raw_headers.append(
        (
            b"server-timing",
            b'db;dur=%.3f;desc="%d statement%s"'
            % (milliseconds, statements.count, plural.encode()),
        )
    )
    logger.info("%s: %d statement%s in %.3f ms", route, statements.count, plural, milliseconds)
    for attribute in statements.lazy:
        logger.warning(
            "%s: lazy load of %s, one more statement for each object it is read from; load "
            "it with the query (selectinload/joinedload, or lazy='joined' on the model)",
            route,
            attribute,
        )
    for sql, times in statements.shapes.items():
        if times >= repeated:
            logger.warning(
                "%s: the same statement ran %d times in one request (an N+1 pattern?): %s; "
                "load the rows in one statement (an IN list, a join, selectinload)",
                route,
                times,
                " ".join(sql.split())[:300],
            )


def watch_engine(engine: AsyncEngine) -> None:
    """Time every statement that goes through SQLAlchemy's execution."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _started)
    event.listen(sync_engine, "after_cursor_execute", _finished)


def _started(
    _connection: Any, _cursor: Any, _sql: str, _params: Any, context: Any, *_: Any
) -> None:
    context._bastion_started = perf_counter()


def _finished(
    _connection: Any, _cursor: Any, sql: str, _params: Any, context: Any, *_: Any
) -> None:
    started = getattr(context, "_bastion_started", None)
    if started is not None and not sql.startswith("BEGIN"):  # SQLite's (PostgreSQL's is unseen)
        record(sql, perf_counter() - started)


def watched_sessions(session_class: type[Session]) -> type[Session]:
    """A subclass of the request sessions' class that reports lazy loads."""
    watched = type(f"Watched{session_class.__name__}", (session_class,), {})
    event.listen(watched, "do_orm_execute", _lazy_load)
    return watched


def _lazy_load(state: ORMExecuteState) -> None:
    # lazy_loaded_from raises for INSERT/UPDATE/DELETE run through the session.
    if state.is_select and state.lazy_loaded_from is not None:
        statements = _recording.get()
        if statements is not None:
            path = state.loader_strategy_path
            statements.lazy.append(str(path[-1]) if path else "a relationship")


class TimedDirectReads(DirectReads):
    """Direct reads whose statements are timed like the session's."""

    __slots__ = ()

    async def connection(self) -> Any:
        return _TimedConnection(await super().connection())

    def timed(self, driver: Any) -> Any:
        return _TimedConnection(driver)


class _TimedConnection:
    __slots__ = ("_connection",)

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._timed(self._connection.fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._timed(self._connection.fetchrow, sql, args)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._timed(self._connection.execute, sql, args)

    @staticmethod
    async def _timed(run: Any, sql: str, args: tuple[Any, ...]) -> Any:
        started = perf_counter()
        try:
            return await run(sql, *args)
        finally:
            record(sql, perf_counter() - started)
