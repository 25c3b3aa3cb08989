"""Direct reads: a request's ``Prepared`` selects run on the driver until its session
begins.

A request session that has not begun holds no connection, no transaction and no unflushed
change, so a read it makes sees exactly what an autocommit read on any pooled connection
sees. Such reads take one connection from SQLAlchemy's pool and run on its asyncpg
connection until the handler returns; when the session begins first (an ORM read, a write,
``db.execute``) the connection goes back to the pool before the session takes one, so a
request never holds two (the pool's arrival-order queue counts one per request). Only
request sessions on engines whose reads run in autocommit are eligible (see ``_lazy.py``):
anywhere else a read must see the session's transaction and goes through it.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, MissingGreenlet, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.pool.base import _ConnectionFairy
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from bastion.db._lazy import RequestSession, forget_reading
from bastion.db.errors import invalid_value

# A checkout tried without a greenlet that turns out to need one has its connect() coroutine
# closed unstarted by SQLAlchemy, on purpose; Python would still call it "never awaited".
warnings.filterwarnings(
    "ignore", r"coroutine .* was never awaited", RuntimeWarning, r"sqlalchemy\.util\.concurrency"
)


class DirectReads:
    """The pooled connection one request reads through before its session begins.

    The connection is leased by its pool record, not through a checked-out proxy: a read
    lease never holds a transaction, so SQLAlchemy's checkout (a proxy object, a weak
    reference, events) and its reset on return (a rollback) would be work for nothing on
    every request. Pools with checkout or checkin listeners, or a pre-ping, still get them:
    their connections are leased the usual way."""

    __slots__ = ("begun", "engine", "handed", "lease", "own", "pool")

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.pool: Pool = engine.sync_engine.pool
        self.lease: ConnectionPoolEntry | PoolProxiedConnection | None = None
        #: The session's transaction, its connection and the driver's, once a prepared write
        #: began it (bastion/db/_writes.py): the request's next writes reuse them.
        self.begun: tuple[Any, Any, Any] | None = None
        #: The driver connection (as ``connection`` gives it) while the lease holds a
        #: transaction of its own: prepared writes made before the session began
        #: (bastion/db/_writes.py).
        self.own: Any = None
        #: The lease's connection as the session's bind, once the session began while the
        #: lease held a transaction: the session carries on in that transaction.
        self.handed: Connection | None = None

    async def connection(self) -> Any:
        """The asyncpg connection, taken from SQLAlchemy's pool on first use."""
        lease = self.lease
        if lease is None:
            pool = self.pool
            plain = _plain(pool)
            lease = _take_at_once(pool) if plain else None
            if lease is None:
                lease = await (
                    greenlet_spawn(_take, pool) if plain else greenlet_spawn(pool.connect)
                )
            self.lease = lease
        return lease.driver_connection

    def timed(self, driver: Any) -> Any:
        """The driver connection as statements run on it (the dev profile times them)."""
        return driver

    def give_back(self) -> None:
        """Return the connection. Nothing to await: reads run straight on the driver, in
        autocommit, and a transaction of the lease's own is committed or rolled back before
        (one that was not, when a request is torn down mid-way, goes with its connection)."""
        lease, self.lease = self.lease, None
        handed, self.handed = self.handed, None
        if lease is None:
            return
        own, self.own = self.own, None
        if own is not None and own is not BROKEN:  # its transaction must never commit: nor
            lease.invalidate()  # the connection last (terminated; a proxy is checked in)
            if not isinstance(lease, PoolProxiedConnection):
                self.pool._do_return_conn(lease)  # the record reconnects when next used
            return
        if handed is not None:
            handed.close()  # checks the lease in, as the session's own connections are
        elif isinstance(lease, PoolProxiedConnection):
            lease.close()
        else:
            self.pool._do_return_conn(lease)

    def hand_over(self) -> Connection:
        """The session begins while the lease holds a transaction: it takes the lease's
        connection as its bind and carries on in that transaction (committed, rolled back and
        checked in as the session's own connections are)."""
        lease = self.lease
        assert lease is not None and self.own is not None
        if not isinstance(lease, PoolProxiedConnection):
            lease = self.lease = _checked_out(self.pool, lease)
        handed = self.handed = Connection(self.engine.sync_engine, connection=lease)
        self.own = self.begun = None
        return handed

    async def failed(
        self, error: Exception, statement: str, args: Sequence[Any], names: Sequence[str]
    ) -> Exception:
        """The exception SQLAlchemy raises for the same driver error (``sqlalchemy.exc.*``,
        ``InvalidValue`` for a value the database refuses); a connection the driver reports
        closed is dropped instead of pooled again."""
        lease = self.lease
        assert lease is not None
        adapter: Any = lease.dbapi_connection
        error = adapted_error(adapter, error)
        if adapter._connection.is_closed():
            await self.drop(error)
        return sqlalchemy_error(self.engine.dialect, error, statement, args, names)

    async def drop(self, error: BaseException | None = None) -> None:
        """Invalidate the lease's connection (the record reconnects when next used). A
        transaction of its own is lost with it: the request may not write or commit on
        until it rolls back (``BROKEN``), as SQLAlchemy's ``PendingRollbackError`` says."""
        lease = self.lease
        assert lease is not None
        if self.own is not None:
            self.own = BROKEN
        lease.dbapi_connection._transaction = None  # type: ignore[union-attr]
        await greenlet_spawn(lease.invalidate, error)
        if isinstance(lease, PoolProxiedConnection):
            self.lease = None  # invalidating the proxy checked it in


def adapted_error(adapter: Any, error: Exception) -> Exception:
    """The DB-API error SQLAlchemy's asyncpg adapter maps a driver error to."""
    try:
        adapter._handle_exception(error)
    except Exception as adapted:
        return adapted
    return error


def sqlalchemy_error(
    dialect: Any, error: Exception, statement: str, args: Sequence[Any], names: Sequence[str]
) -> Exception:
    """What ``db.execute`` raises for the same DB-API error (``sqlalchemy.exc.*``, or
    ``InvalidValue`` for a value the database refuses)."""
    wrapped = DBAPIError.instance(
        statement, args, error, dialect.loaded_dbapi.Error, dialect=dialect
    )
    return invalid_value(error, wrapped, statement, args, names) or wrapped


def allow_direct_reads(
    session: AsyncSession, engine: AsyncEngine, reads: type[DirectReads] = DirectReads
) -> None:
    """Mark a request session whose reads may run on the driver until it begins (the
    plugin's own sessions, on ``engine``, when it reads in autocommit; not test isolation's,
    which are plain sessions on a connection); ``reads`` is the dev profile's timed kind, or
    the plain one."""
    sync = session.sync_session
    if isinstance(sync, RequestSession):
        sync.direct_reads = reads(engine)


def idle(session: Session) -> bool:
    """Not begun and holding no unflushed change: nothing to commit, nothing a read through
    the session would flush first. (``in_transaction()``, ``new``, ``dirty`` and ``deleted``
    say the same at ten times the cost; this runs for every read.)"""
    return (
        session._transaction is None
        and not session._new
        and not session._deleted
        and not session.identity_map._modified
    )


def direct_reads(session: AsyncSession) -> DirectReads | None:
    """The session's direct reads, if it may read directly now (while it is idle)."""
    sync = session.sync_session
    reads: DirectReads | None = getattr(sync, "direct_reads", None)
    return reads if reads is not None and idle(sync) else None


def end_direct_reads(session: AsyncSession) -> None:
    """At the end of the request: the connection goes back to the pool."""
    reads: DirectReads | None = getattr(session.sync_session, "direct_reads", None)
    if reads is not None:
        reads.give_back()


def _plain(pool: Pool) -> bool:
    """A queue pool without a pre-ping, and without listeners on checkout or checkin but
    lazy transactions' own (for sessions' connections only): its records may be leased
    directly."""
    return (
        isinstance(pool, QueuePool)
        and not pool._pre_ping
        and not pool.dispatch.checkout
        and all(listener is forget_reading for listener in pool.dispatch.checkin)
    )


def _take_at_once(pool: Pool) -> ConnectionPoolEntry | None:
    """An idle pooled connection that is ready, without a greenlet (which costs more than the
    lease itself); None when the pool must connect, reconnect or wait first, which only works
    where SQLAlchemy may await."""
    queue: Any = pool._pool  # type: ignore[attr-defined]
    try:
        record: Any = queue.get_nowait()
    except Empty:
        return None
    try:
        record.get_connection()  # reconnects a recycled or invalidated record
    except MissingGreenlet:  # which needs to await: the record goes back as it was
        pool._do_return_conn(record)
        return None
    except BaseException as error:
        record._checkin_failed(error, _fairy_was_created=False)
        raise
    return cast(ConnectionPoolEntry, record)


def _take(pool: Pool) -> ConnectionPoolEntry:
    """A pooled connection's record, waiting for one (in a greenlet) as a checkout would."""
    record: Any = pool._do_get()
    try:
        record.get_connection()
    except BaseException as error:
        record._checkin_failed(error, _fairy_was_created=False)
        raise
    return cast(ConnectionPoolEntry, record)


#: ``DirectReads.own`` once the connection of the lease's own transaction was dropped.
BROKEN: Any = object()
BROKEN_TEXT = (
    "This request's transaction was lost with its database connection; roll back "
    "(db.rollback()) before writing again"
)


def _checked_out(pool: Pool, record: Any) -> PoolProxiedConnection:
    """A leased record as a checked-out connection, as ``pool.connect()`` makes one (the
    pool is plain: no checkout listeners, no pre-ping)."""
    fairy = _ConnectionFairy(pool, record.dbapi_connection, record, pool._should_log_debug())
    record.fairy_ref = weakref.ref(fairy, lambda ref: None)
    fairy._counter += 1
    return fairy


@event.listens_for(RequestSession, "after_transaction_create")
def _give_back_before_begin(session: RequestSession, transaction: SessionTransaction) -> None:
    reads = session.direct_reads
    if transaction.parent is None and reads is not None:
        if reads.own is None:
            reads.give_back()
        elif reads.own is BROKEN:
            raise PendingRollbackError(BROKEN_TEXT)
        else:
            handed = reads.hand_over()
            # Enlisted now, not at its first statement: a transaction that ends without
            # one (``async with db.begin()`` around no SQL) must still commit or roll back
            # the writes it took over. Nothing is sent: the driver's transaction is open.
            transaction._connection_for_bind(handed, None)
