"""Lazy transactions on PostgreSQL: a request's reads run in autocommit, its first write opens
the transaction.

A request that only reads then costs one round trip per query instead of three (BEGIN, the
query, COMMIT): the behaviour of Django's and Rails' default autocommit. Every write still
runs in one transaction with everything after it, committed after the handler or rolled back
when it raises. Under READ COMMITTED (PostgreSQL's default) each statement sees a fresh
snapshot inside a transaction too, so reads lose nothing; ``SELECT … FOR UPDATE``/``FOR
SHARE``, savepoints and any statement that is not a plain SELECT open the transaction first.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, SessionTransaction

if TYPE_CHECKING:
    from bastion.db._direct import DirectReads

_PLAIN_SELECT = re.compile(
    r"\s*select\b(?!.*\bfor\s+(?:update|share|no\s+key\s+update|key\s+share)\b)",
    re.IGNORECASE | re.DOTALL,
)
#: asyncpg connections (SQLAlchemy's adapters) currently reading in autocommit.
_reading: set[Any] = set()


class RequestSession(Session):
    """The session class of request sessions; only these start lazily."""

    #: Reads through ``Prepared`` before the session begins (bastion/db/_direct.py).
    direct_reads: DirectReads | None = None

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        """The connection whose transaction prepared writes began, once the session takes
        it over (``DirectReads.hand_over``); otherwise the engine, as usual."""
        reads = self.direct_reads
        if reads is not None and reads.handed is not None:
            return reads.handed
        return super().get_bind(*args, **kwargs)


def supports_lazy_transactions(engine: AsyncEngine) -> bool:
    """asyncpg at the server's default isolation (a stricter level needs real snapshots)."""
    dialect = engine.sync_engine.dialect
    level = getattr(dialect, "isolation_level", None)
    return dialect.driver == "asyncpg" and level in (None, "READ COMMITTED")


def enable_lazy_transactions(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(sync_engine, "checkin", forget_reading)
    event.listen(sync_engine, "invalidate", _forget_invalid)


@event.listens_for(RequestSession, "after_begin")
def _start_reading(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    adapter: Any = connection.connection.dbapi_connection
    if transaction.nested or getattr(adapter, "_transaction", True) is not None:
        return  # a savepoint, a foreign driver, or a connection already in a transaction
    adapter.isolation_level = "autocommit"
    _reading.add(adapter)


def _before_cursor_execute(connection: Connection, cursor: Any, statement: str, *_: Any) -> None:
    adapter: Any = connection.connection.dbapi_connection
    if adapter in _reading and not _plain_select(statement):
        _begin_on_next_statement(adapter)


#: Answers of ``_PLAIN_SELECT`` by SQL text: its look-ahead reads the whole statement, and an
#: app runs the same few hundred texts (SQLAlchemy's compiled cache hands out the same ones).
_plain: dict[str, bool] = {}


def _plain_select(statement: str) -> bool:
    try:
        return _plain[statement]
    except KeyError:
        if len(_plain) >= 2000:  # texts with literal values could grow it without end
            _plain.clear()
        plain = _plain[statement] = _PLAIN_SELECT.match(statement) is not None
        return plain


def _begin_on_next_statement(adapter: Any) -> None:
    adapter.isolation_level = adapter._isolation_setting
    _reading.discard(adapter)


def leave_autocommit(adapter: Any) -> None:
    """A write about to run on the driver (bastion/db/_writes.py) opens the transaction, as
    a write through SQLAlchemy does in ``_before_cursor_execute``."""
    if adapter in _reading:
        _begin_on_next_statement(adapter)


def forget_reading(adapter: Any, _record: Any) -> None:
    """A connection going back to the pool leaves autocommit (direct reads, which never
    enter it, skip this listener: bastion/db/_direct.py)."""
    leave_autocommit(adapter)


def _forget_invalid(adapter: Any, _record: Any, _exception: Any) -> None:
    leave_autocommit(adapter)
