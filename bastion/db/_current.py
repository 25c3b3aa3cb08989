"""``current_session()``: the request's database session, for code the handler calls.

A job enqueued while a request runs joins that request's transaction (it exists only if the
request commits) without the handler passing ``db`` down: the plugin records the session it
opens for a request here, and forgets it when the request ends.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from sqlalchemy.ext.asyncio import AsyncSession

_current: ContextVar[AsyncSession | None] = ContextVar("bastion.db.session", default=None)


def current_session() -> AsyncSession | None:
    """The session ``SQLAlchemyPlugin`` opened for the request being handled, or None
    outside one (a worker, a script, a request that never asked for ``AsyncSession``)."""
    return _current.get()


def enter(session: AsyncSession) -> Token[AsyncSession | None]:
    return _current.set(session)


def leave(token: Token[AsyncSession | None]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # torn down in another context (a copied one): forget it there
        _current.set(None)
