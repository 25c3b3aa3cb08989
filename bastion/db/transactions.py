"""``on_commit(db, callback)``: run something once the session's transaction is committed.

A broadcast, an e-mail or a job made while a transaction is open can reach the world before
the data it talks about: a client is told of a row it cannot read yet, or of one that is
rolled back. Callbacks given to ``on_commit`` (Django's ``transaction.on_commit``) wait for
the commit of the session's outermost transaction and are dropped when it rolls back; one
registered inside a savepoint (``begin_nested``) is dropped when that savepoint rolls back.

    db.add(message)
    on_commit(db, lambda: channel.broadcast("new_msg", message.as_dict()))

Callbacks take no arguments and may be async; they run in order once the commit is done and
the connection has gone back to the pool, before ``await db.commit()`` returns (in a request:
before the response is sent). One that raises is logged, and the others still run: the data
is committed, and the request's answer must say so. A callback that writes uses a session of
its own.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import await_only

Callback = Callable[[], Any]
logger = logging.getLogger("bastion.db")
_PENDING = "bastion.on_commit"  # session.info key: [savepoint or None, callback] pairs
_COMMITTED = "bastion.committed"  # session.info key: the outermost transaction committed


def on_commit(db: AsyncSession | Session, callback: Callback) -> None:
    """Run ``callback`` (sync or async, no arguments) after ``db`` next commits its
    outermost transaction; forget it if that transaction, or the savepoint open now, rolls
    back."""
    if not callable(callback):
        raise TypeError(f"on_commit takes a function of no arguments, not {callback!r}")
    session = db.sync_session if isinstance(db, AsyncSession) else db
    pending: list[list[Any]] = session.info.setdefault(_PENDING, [])
    pending.append([session.get_nested_transaction(), callback])


async def run_pending(db: AsyncSession) -> None:
    """Run the callbacks of a session that had nothing to commit (a request whose session
    never began): its work is done, so nothing can roll it back any more."""
    pending = db.sync_session.info.pop(_PENDING, None)
    if pending:
        for _owner, callback in pending:
            await _call(callback)


def drop_pending(db: AsyncSession) -> None:
    """Forget the callbacks of a session whose work failed."""
    db.sync_session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is None:  # the outermost transaction
        session.info[_COMMITTED] = True
        return
    enclosing = _enclosing_savepoint(savepoint)
    for entry in pending:  # a released savepoint's callbacks wait for the one around it
        if entry[0] is savepoint:
            entry[0] = enclosing


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    info = session.info
    pending = info.get(_PENDING)
    if not pending:
        return
    if transaction.nested:  # rolled back, unless after_commit moved its callbacks out
        info[_PENDING] = [entry for entry in pending if entry[0] is not transaction]
        return
    if transaction.parent is not None:  # a flush's subtransaction
        return
    del info[_PENDING]
    if info.pop(_COMMITTED, False):
        for _owner, callback in pending:
            _call_in_greenlet(callback)


def _enclosing_savepoint(savepoint: SessionTransaction) -> SessionTransaction | None:
    parent = savepoint.parent
    while parent is not None and not parent.nested:
        parent = parent.parent
    return parent


def _call_in_greenlet(callback: Callback) -> None:
    """Inside ``await session.commit()`` SQLAlchemy runs sync code in a greenlet, which may
    wait for a coroutine (``await_only``)."""
    try:
        result = callback()
        if inspect.isawaitable(result):
            await_only(result)
    except Exception:
        logger.exception("on_commit callback %s failed after the commit", _name(callback))


async def _call(callback: Callback) -> None:
    try:
        result = callback()
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("on_commit callback %s failed after the commit", _name(callback))


def _name(callback: Callback) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", repr(callback))
