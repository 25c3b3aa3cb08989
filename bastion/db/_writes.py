"""Direct writes: a ``Prepared`` INSERT, UPDATE or DELETE runs on the driver connection of
the request session's own transaction.

SQLAlchemy's execution of a one-row write (a cache key, an execution context, events, cursor
and result objects, a greenlet switch) costs more CPU than the write itself. A prepared
write lets the session begin as it always does (its connection, its transaction, committed
after the handler or rolled back when it raises), then hands the compiled SQL to asyncpg on
that same connection, inside that transaction: it commits or rolls back with everything
else the request wrote. The session's unflushed changes are flushed first, as the session
flushes before a statement. Sessions that read through the session rather than directly
(other drivers, ``autocommit_reads=False``, test isolation) run the write with
``db.execute``, with the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bastion.db._direct import (
    BROKEN,
    BROKEN_TEXT,
    DirectReads,
    adapted_error,
    idle,
    sqlalchemy_error,
)
from bastion.db._lazy import leave_autocommit
from bastion.db.transactions import drop_pending


def direct_writes(session: AsyncSession) -> DirectReads | None:
    """The session's direct reads, whose engine and timing its direct writes share; None
    where writes go through the session."""
    reads: DirectReads | None = getattr(session.sync_session, "direct_reads", None)
    return reads


async def in_transaction(
    session: AsyncSession, reads: DirectReads
) -> tuple[AsyncConnection | None, Any]:
    """Where a prepared write runs: the session's connection, begun, and its asyncpg
    connection inside the transaction (timed in dev like the session's statements). A session
    that has not begun does not begin for it: the transaction opens on the connection the
    request's direct reads lease (connection None), and the session takes it over if it
    begins later (``DirectReads.hand_over``). SQLAlchemy's begin, commit and close of a
    session cost a fifth of a one-row write's request."""
    sync = session.sync_session
    if sync._new or sync._deleted or sync.identity_map._modified:
        await session.flush()  # what the unit of work holds goes first
    transaction = sync._transaction
    if transaction is None:
        if reads.own is BROKEN:
            raise PendingRollbackError(BROKEN_TEXT)
        if reads.own is None:
            driver = await reads.connection()  # as reads use it (timed in dev)
            lease = reads.lease
            assert lease is not None
            adapter: Any = lease.dbapi_connection
            leave_autocommit(adapter)
            reads.own = driver  # first: a BEGIN cut short leaves a connection not to pool
            try:
                await adapter._start_transaction()
            except Exception as error:
                await reads.drop(error)
                raise
        return None, reads.own
    begun = reads.begun
    if begun is not None and begun[0] is transaction and transaction.is_active:
        return begun[1], begun[2]  # the same transaction: the same connection
    connection = await session.connection()
    adapter = _adapter(connection)
    leave_autocommit(adapter)  # the request's first write opens its transaction
    if adapter._transaction is None:
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()
    driver = reads.timed(adapter._connection)
    reads.begun = (sync._transaction, connection, driver)
    return connection, driver


async def settle(session: AsyncSession, *, commit: bool) -> None:
    """Commit or roll back the transaction prepared writes opened on the lease, if one is
    open (the session never began): what the session's commit and rollback would do. Rolled
    back, its ``on_commit`` callbacks are forgotten, as the session's would be."""
    reads = direct_writes(session)
    if reads is None or reads.own is None:
        return None
    if not commit:
        drop_pending(session)
    if reads.own is BROKEN:
        if commit:
            raise PendingRollbackError(BROKEN_TEXT)
        reads.own = None
        return None
    lease = reads.lease
    assert lease is not None
    adapter: Any = lease.dbapi_connection
    transaction = adapter._transaction
    if transaction is None:  # its BEGIN was cut short: the driver's state is unknown
        await reads.drop()
        return await settle(session, commit=commit)  # as a lost connection's
    try:
        await (transaction.commit() if commit else transaction.rollback())
    except Exception as error:  # the connection's state is unknown: it goes, transaction and all
        await reads.drop(error)
        if commit:
            adapted = adapted_error(adapter, error)
            raise sqlalchemy_error(reads.engine.dialect, adapted, "COMMIT", (), ()) from None
    else:  # (cancelled mid-way, ``own`` stays: the connection is terminated, not pooled)
        adapter._transaction = reads.own = None


class RequestAsyncSession(AsyncSession):
    """The request session: its commit and rollback settle the transaction prepared writes
    opened on the lease before the session's own (``db.commit()`` mid-handler commits those
    writes too; ``db.rollback()`` undoes them)."""

    async def commit(self) -> None:
        reads = direct_writes(self)
        if reads is not None and reads.own is not None:
            if idle(self.sync_session):
                await settle(self, commit=True)
            else:  # a flush to come joins the writes' transaction (the session takes it over)
                await self.connection()
        await super().commit()

    async def rollback(self) -> None:
        await settle(self, commit=False)
        await super().rollback()

    async def close(self) -> None:
        await settle(self, commit=False)
        await super().close()

    async def reset(self) -> None:
        await settle(self, commit=False)
        await super().reset()

    async def invalidate(self) -> None:
        await settle(self, commit=False)
        await super().invalidate()


async def failed(
    reads: DirectReads,
    connection: AsyncConnection | None,
    error: Exception,
    statement: str,
    args: Sequence[Any],
    names: Sequence[str],
) -> Exception:
    """The exception SQLAlchemy raises for the same driver error (``IntegrityError`` and the
    rest of ``sqlalchemy.exc``, ``InvalidValue`` for a value the database refuses); a
    connection the driver reports closed is invalidated, as SQLAlchemy does."""
    if connection is None:  # the lease's own transaction
        return await reads.failed(error, statement, args, names)
    adapter = _adapter(connection)
    error = adapted_error(adapter, error)
    if adapter._connection.is_closed():
        await connection.invalidate(error)
    return sqlalchemy_error(connection.dialect, error, statement, args, names)


def _adapter(connection: AsyncConnection) -> Any:
    """SQLAlchemy's adapter of the asyncpg connection (its transaction, its lock)."""
    sync = connection.sync_connection
    assert sync is not None  # the connection of a begun session
    return sync.connection.dbapi_connection
