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

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bastion.db._direct import DirectReads, adapted_error, sqlalchemy_error
from bastion.db._lazy import leave_autocommit


def direct_writes(session: AsyncSession) -> DirectReads | None:
    """The session's direct reads, whose engine and timing its direct writes share; None
    where writes go through the session."""
    reads: DirectReads | None = getattr(session.sync_session, "direct_reads", None)
    return reads


async def in_transaction(session: AsyncSession, reads: DirectReads) -> tuple[AsyncConnection, Any]:
    """The session's connection, begun, and its asyncpg connection inside the transaction
    (timed in dev like the session's statements)."""
    sync = session.sync_session
    if sync._new or sync._deleted or sync.identity_map._modified:
        await session.flush()  # what the unit of work holds goes first
    begun = reads.begun
    transaction = sync._transaction
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


async def failed(
    connection: AsyncConnection,
    error: Exception,
    statement: str,
    args: Sequence[Any],
    names: Sequence[str],
) -> Exception:
    """The exception SQLAlchemy raises for the same driver error (``IntegrityError`` and the
    rest of ``sqlalchemy.exc``, ``InvalidValue`` for a value the database refuses); a
    connection the driver reports closed is invalidated, as SQLAlchemy does."""
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
