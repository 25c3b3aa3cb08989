"""The database jobs backend: PostgreSQL and SQLite through the app's SQLAlchemy engine.

    app = App(plugins=[SQLAlchemyPlugin(), JobsPlugin(jobs, backend="database")])

Jobs are rows of ``bastion_jobs`` (``_db_schema.py``; ``bastion db upgrade`` creates it from
the migration in ``bastion/jobs/migrations/``). A job enqueued with ``session=db`` is written
in that session's transaction: it exists only if the transaction commits.

- Claiming is one ``UPDATE … WHERE id IN (SELECT … ORDER BY priority, run_at LIMIT n FOR
  UPDATE SKIP LOCKED) RETURNING``: on PostgreSQL concurrent claimers skip each other's rows;
  SQLite runs one writer at a time (a write statement takes the lock before it reads), so no
  job is handed to two workers either way.
- Waking: on PostgreSQL ``enqueue`` sends a NOTIFY in its transaction (delivered at commit)
  that a LISTEN connection turns into a wake-up within milliseconds; on SQLite waiting
  workers are woken in-process and poll every ``poll_interval`` seconds for other processes'
  jobs. Either way ``wait`` also sleeps until the next scheduled job is due.
- Unique keys: a job holding its key has it in ``unique_holder``, under a unique index, so
  two enqueues of one key cannot both succeed, even in concurrent transactions.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bastion.exceptions import ConfigurationError
from bastion.jobs import _db_sql as sql
from bastion.jobs._db_listen import Listener, Waiters, payload
from bastion.jobs._db_schema import jobs, leaders, metadata
from bastion.jobs.record import FINISHED, JobRecord, JobState

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.db.plugin import SQLAlchemyPlugin

__all__ = ["MIGRATIONS", "DatabaseBackend", "metadata"]

#: The folder of the jobs tables' migrations: an Alembic branch labelled ``bastion_jobs``.
MIGRATIONS = Path(__file__).parent / "migrations"
#: One job's INSERT and its NOTIFY as one statement, built once: built at each enqueue, its
#: construction and cache key took about a third of an enqueue's CPU time (benchmarks/jobs).
_INSERT_AND_NOTIFY = sql.NOTIFY.add_cte(insert(jobs).values(sql.INSERT_VALUES).cte("job"))


class DatabaseBackend:
    """A ``JobsBackend`` on the app's database: ``DatabaseBackend.for_app(app)`` (what
    ``JobsPlugin(backend="database")`` uses), or given a ``SQLAlchemyPlugin``, an
    ``AsyncEngine`` or a URL. ``poll_interval``: how often a waiting worker looks for jobs
    other processes enqueued when no notification can tell it (SQLite, or while the LISTEN
    connection is being reopened)."""

    transactional = True

    def __init__(
        self,
        database: SQLAlchemyPlugin | AsyncEngine | str,
        *,
        poll_interval: float = 0.05,
    ) -> None:
        from bastion.db.plugin import SQLAlchemyPlugin

        if isinstance(database, SQLAlchemyPlugin):
            database.include_migrations(MIGRATIONS, metadata)  # `bastion db upgrade` applies it
        self._source = database
        self.poll_interval = poll_interval
        self._engine: AsyncEngine | None = None
        self._ops: AsyncEngine | None = None  # single statements (autocommit on PostgreSQL)
        self._own_engine = False
        self._postgres = False
        self._waiters = Waiters()
        self._listener: Listener | None = None
        self._due_queries: dict[int, Any] = {}

    @classmethod
    def for_app(cls, app: App[Any], **options: Any) -> DatabaseBackend:
        """The backend on ``app``'s ``SQLAlchemyPlugin``; a start-up error without one."""
        from bastion.db.plugin import SQLAlchemyPlugin

        for plugin in app.plugins:
            if isinstance(plugin, SQLAlchemyPlugin):
                return cls(plugin, **options)
        raise ConfigurationError(
            "The database jobs backend needs the database battery: "
            "App(plugins=[SQLAlchemyPlugin(), JobsPlugin(...)]), or choose backend='memory' "
            "or 'redis://…'"
        )

    def __repr__(self) -> str:
        engine = self._engine
        where = engine.url.render_as_string(hide_password=True) if engine else "not started"
        return f"DatabaseBackend({where})"

    # -- connecting --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._engine is not None:
            return
        from bastion.db.engine import engine_for

        engine, self._own_engine = engine_for(
            self._source, "The database jobs backend", "JobsPlugin(...)"
        )
        dialect = engine.dialect
        if dialect.name == "postgresql" and dialect.driver != "asyncpg":
            raise ConfigurationError(
                f"The database jobs backend speaks to PostgreSQL through asyncpg, not "
                f"{dialect.driver}: use a postgresql+asyncpg:// URL"
            )
        if dialect.name not in ("postgresql", "sqlite"):
            raise ConfigurationError(
                f"The database jobs backend runs on PostgreSQL and SQLite, not {dialect.name}; "
                "use backend='redis://…' or 'memory'"
            )
        self._postgres = dialect.name == "postgresql"
        self._engine = engine
        if self._postgres:
            self._ops = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._listener = Listener(self._listen_connection, self._waiters)
        else:
            self._ops = engine

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()
        self._waiters.recheck()  # let waiting workers notice
        engine, self._engine, self._ops = self._engine, None, None
        if engine is not None and self._own_engine:
            await engine.dispose()
        self._own_engine = False

    async def _listen_connection(self) -> Any:
        """A connection of its own for LISTEN, opened as the engine opens its connections."""
        import asyncpg  # type: ignore[import-untyped]

        engine = self._started()
        args, options = engine.dialect.create_connect_args(engine.url)
        for adapter_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
            options.pop(adapter_only, None)
        from bastion.db.plugin import SQLAlchemyPlugin

        if isinstance(self._source, SQLAlchemyPlugin):
            options.update(self._source.engine_options.get("connect_args", {}))
        options.setdefault("timeout", 10)
        return await asyncpg.connect(*args, **options)

    def _started(self) -> AsyncEngine:
        if self._engine is None:
            raise ConfigurationError(
                "The database jobs backend is not started: run the app with its lifespan "
                "(JobsPlugin starts it), or await backend.start()"
            )
        return self._engine

    @asynccontextmanager
    async def _connect(self, *, transaction: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction (``transaction``: also on PostgreSQL, where single
        statements otherwise run in autocommit); a missing table is a setup error."""
        engine = self._started() if transaction else (self._ops or self._started())
        try:
            async with engine.begin() as connection:
                yield connection
        except DBAPIError as exc:
            raise _missing_tables(exc) or exc from None

    async def _execute(self, statement: Any, params: Any = None) -> Any:
        """One statement (in autocommit on PostgreSQL), its result read in full. A pooled
        connection found dead (the server restarted) is replaced and the statement sent
        again once: each of them is harmless to repeat."""
        try:
            async with self._connect() as connection:
                return await connection.execute(statement, params)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        async with self._connect() as connection:
            return await connection.execute(statement, params)

    # -- producing -----------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], *, session: Any = None) -> list[str]:
        if not records:
            return []
        now = time.time()
        if session is not None:
            if not isinstance(session, AsyncSession):
                raise TypeError(f"enqueue(session=...) takes an AsyncSession, not {session!r}")
            self._started()
            try:
                ids = await self._write(session, records, now)
            except DBAPIError as exc:
                raise _missing_tables(exc) or exc from None
            from bastion.db import on_commit

            on_commit(session, partial(self._wake_for, records))
            return ids
        keyed = any(record.unique_key is not None for record in records)
        async with self._connect(transaction=keyed or len(records) > 1) as connection:
            ids = await self._write(connection, records, now)
        self._wake_for(records)
        return ids

    async def _write(
        self, db: AsyncConnection | AsyncSession, records: Sequence[JobRecord], now: float
    ) -> list[str]:
        """Insert ``records`` through ``db`` (its transaction); NOTIFY on PostgreSQL."""
        ids = [record.id for record in records]
        plain = [sql.to_row(record) for record in records if record.unique_key is None]
        notified = False
        if len(plain) == 1 and self._postgres and len(records) == 1:
            # one round trip: the INSERT and its NOTIFY in one statement
            record = records[0]
            values = {f"v_{name}": value for name, value in plain[0].items()}
            values["payload"] = payload(record.queue, record.run_at)
            await db.execute(_INSERT_AND_NOTIFY, values)
            notified = True
        elif plain:
            await db.execute(insert(jobs), plain)
        for index, record in enumerate(records):
            if record.unique_key is not None:
                ids[index] = await self._insert_keyed(db, record, now)
        if self._postgres and not notified:
            for queue, run_at in _earliest(records).items():
                await db.execute(sql.NOTIFY, {"payload": payload(queue, run_at)})
        return ids

    async def _insert_keyed(
        self, db: AsyncConnection | AsyncSession, record: JobRecord, now: float
    ) -> str:
        """Store ``record`` unless a job holds its key; return the holder's id."""
        key = record.unique_key
        statement = self._upsert(jobs).on_conflict_do_nothing(
            index_elements=[sql.c.unique_holder], index_where=sql.c.unique_holder.is_not(None)
        )
        for _ in range(10):
            await db.execute(sql.FREE_EXPIRED_KEY, {"key": key, "now": now, "b_id": record.id})
            stored = (await db.execute(statement.returning(sql.c.id), sql.to_row(record))).scalar()
            if stored is not None:
                return str(stored)
            holder = (await db.execute(sql.HOLDER, {"key": key})).scalar()
            if holder is not None:  # else it let go in between: try again
                return str(holder)
        raise RuntimeError(f"unique key {key!r} changed hands ten times during one enqueue")

    def _upsert(self, table: Any) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        return (postgresql if self._postgres else sqlite).insert(table)

    def _wake_for(self, records: Sequence[JobRecord]) -> None:
        for queue, run_at in _earliest(records).items():
            self._waiters.wake(queue, run_at)

    async def _notify(self, changed: Sequence[Any], db: AsyncConnection | None = None) -> None:
        """Tell waiting workers (here, and elsewhere on PostgreSQL) of jobs pending again:
        ``changed`` holds (queue, state, run_at) rows; ``db``: notify in its transaction."""
        due: dict[str, float] = {}
        for queue, state, run_at in changed:
            if state == JobState.PENDING.value:
                due[queue] = min(run_at, due.get(queue, math.inf))
        for queue, run_at in due.items():
            self._waiters.wake(queue, run_at)
            if self._postgres:
                notify = {"payload": payload(queue, run_at)}
                await (db.execute if db is not None else self._execute)(sql.NOTIFY, notify)

    # -- consuming -----------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], limit: int, *, worker: str, lease: float
    ) -> list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        now = time.time()
        params = {
            "queues": list(queues),
            "now": now,
            "limit": limit,
            "b_worker": worker,
            "b_until": now + lease,
        }
        rows = (await self._execute(sql.CLAIM, params)).all()
        claimed = [sql.to_record(row) for row in rows]
        claimed.sort(key=lambda job: (job.priority, job.run_at))
        return claimed

    async def wait(self, queues: Sequence[str], seconds: float) -> None:
        import asyncio

        self._started()
        wanted = frozenset(queues)
        waiter = self._waiters.add(wanted)  # before looking: a wake-up meanwhile counts
        try:
            listener = self._listener
            if listener is not None:
                listener.start()
            deadline = time.monotonic() + max(seconds, 0.0)
            due = await self._next_due(wanted)
            while True:
                if waiter.event.is_set():  # told of a job (and when it is due) since
                    waiter.event.clear()
                    if self._engine is None:  # stopped
                        return
                    if waiter.recheck:
                        waiter.recheck = False
                        due = await self._next_due(wanted)
                    due = min(due, waiter.due)
                    waiter.due = math.inf
                now = time.time()
                left = deadline - time.monotonic()
                if due <= now or left <= 0:
                    return
                polling = listener is None or not listener.connected
                pause = min(left, due - now, self.poll_interval if polling else math.inf)
                try:
                    await asyncio.wait_for(waiter.event.wait(), pause)
                except TimeoutError:
                    if polling:
                        due = await self._next_due(wanted)
        finally:
            self._waiters.discard(waiter)

    async def _next_due(self, queues: frozenset[str]) -> float:
        """When the earliest pending job of ``queues`` is due (inf: none is pending)."""
        if not queues:
            return math.inf
        names = sorted(queues)
        statement = self._due_queries.get(len(names))
        if statement is None:  # one indexed lookup per queue
            per_queue = [
                select(func.min(sql.c.run_at).label("run_at")).where(
                    sql.IS_PENDING, sql.c.queue == bindparam(f"q{i}")
                )
                for i in range(len(names))
            ]
            lookups = union_all(*per_queue).subquery() if len(per_queue) > 1 else None
            statement = per_queue[0] if lookups is None else select(func.min(lookups.c.run_at))
            self._due_queries[len(names)] = statement
        due = (await self._execute(statement, {f"q{i}": q for i, q in enumerate(names)})).scalar()
        return math.inf if due is None else float(due)

    async def extend(self, ids: Sequence[str], *, worker: str, lease: float) -> set[str]:
        if not ids:
            return set()
        params = {"ids": list(ids), "b_worker": worker, "b_until": time.time() + lease}
        rows = (await self._execute(sql.EXTEND, params)).all()
        return {job_id for job_id, cancelling in rows if cancelling}

    async def succeed(self, job_id: str, *, worker: str) -> None:
        await self._execute(sql.SUCCEED, {"b_id": job_id, "b_worker": worker, "now": time.time()})

    async def succeed_many(self, ids: Sequence[str], *, worker: str) -> None:
        if ids:  # one executemany: one round trip on asyncpg, one commit on SQLite
            now = time.time()
            rows = [{"b_id": job_id, "b_worker": worker, "now": now} for job_id in ids]
            await self._execute(sql.SUCCEED, rows)

    async def retry(self, job_id: str, *, worker: str, run_at: float, error: str) -> None:
        params = {
            "b_id": job_id,
            "b_worker": worker,
            "b_run_at": run_at,
            "b_error": sql.encode(error).decode(),
            "now": time.time(),
        }
        await self._notify((await self._execute(sql.RETRY, params)).all())

    async def fail(self, job_id: str, *, worker: str, error: str) -> None:
        params = {
            "b_id": job_id,
            "b_worker": worker,
            "b_error": sql.encode(error).decode(),
            "now": time.time(),
        }
        await self._execute(sql.FAIL, params)

    async def release(self, ids: Sequence[str], *, worker: str) -> None:
        if not ids:
            return
        params = {"ids": list(ids), "b_worker": worker, "now": time.time()}
        await self._notify((await self._execute(sql.RELEASE, params)).all())

    async def rescue(self) -> int:
        changed = (await self._execute(sql.RESCUE, {"now": time.time()})).all()
        await self._notify(changed)
        return len(changed)

    # -- operating -----------------------------------------------------------------------------

    async def cancel(self, job_id: str) -> bool:
        found = await self._execute(sql.CANCEL, {"b_id": job_id, "now": time.time()})
        return found.first() is not None

    async def requeue(self, job_id: str) -> bool:
        now = time.time()
        for _ in range(3):
            try:
                async with self._connect(transaction=True) as connection:
                    key = (await connection.execute(sql.KEY_OF, {"b_id": job_id})).scalar()
                    if key is not None:
                        free = {"key": key, "now": now, "b_id": job_id}
                        await connection.execute(sql.FREE_EXPIRED_KEY, free)
                    queues = (
                        await connection.execute(sql.REQUEUE, {"b_id": job_id, "now": now})
                    ).all()
                    pending = [(queue, JobState.PENDING.value, now) for (queue,) in queues]
                    await self._notify(pending, connection)
                return bool(queues)
            except IntegrityError:  # another job took the key meanwhile: look again
                continue
        return False

    async def get(self, job_id: str) -> JobRecord | None:
        row = (await self._execute(sql.GET, {"b_id": job_id})).first()
        return None if row is None else sql.to_record(row)

    async def counts(self) -> dict[tuple[str, JobState], int]:
        rows = (await self._execute(sql.COUNTS)).all()
        return {(queue, JobState(state)): count for queue, state, count in rows}

    async def purge(self, *, states: Sequence[JobState], older_than: float) -> int:
        doomed = sorted(FINISHED.intersection(states))
        if not doomed:
            return 0
        statement = delete(jobs).where(
            sql.states_sql(doomed),
            sql.c.finished_at < bindparam("older"),
            # a job keeps its unique key until unique_until (a cron tick's): keep it too
            or_(sql.c.unique_holder.is_(None), sql.c.unique_until <= bindparam("now")),
        )
        params = {"older": older_than, "now": time.time()}
        return int((await self._execute(statement, params)).rowcount)

    async def lead(self, name: str, *, holder: str, ttl: float) -> bool:
        now = time.time()
        table = leaders
        statement = (
            self._upsert(table)
            .values(name=name, holder=holder, until=now + ttl)
            .on_conflict_do_update(
                index_elements=[table.c.name],
                set_={"holder": holder, "until": now + ttl},
                where=or_(table.c.holder == holder, table.c.until <= now),
            )
            .returning(table.c.holder)
        )
        return (await self._execute(statement)).first() is not None

    async def list(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[JobRecord]:
        statement = select(jobs).order_by(sql.c.enqueued_at.desc()).limit(max(limit, 0))
        if state is not None:
            statement = statement.where(sql.c.state == sql.state_sql(JobState(state)))
        if queue is not None:
            statement = statement.where(sql.c.queue == queue)
        if name is not None:
            statement = statement.where(sql.c.name == name)
        return [sql.to_record(row) for row in (await self._execute(statement)).all()]


def _earliest(records: Sequence[JobRecord]) -> dict[str, float]:
    """Each queue's earliest run_at among ``records``: what one notification tells."""
    due: dict[str, float] = {}
    for record in records:
        due[record.queue] = min(record.run_at, due.get(record.queue, math.inf))
    return due


def _missing_tables(exc: DBAPIError) -> ConfigurationError | None:
    """The jobs tables were never created: say how to create them."""
    text = str(exc.orig).lower()
    if "bastion_jobs" in text and ("no such table" in text or "does not exist" in text):
        return ConfigurationError(
            "The jobs tables do not exist in this database: run `bastion --app <app> db "
            "upgrade` (after `db init` if the app has no migrations yet), which applies the "
            "jobs battery's migration with the app's; in tests, create them with "
            "bastion.jobs.database.metadata.create_all"
        )
    return None
