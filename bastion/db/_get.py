"""``Model.get``: ``session.get`` with its SELECT built once per model.

``session.get`` builds a new ``select()`` for every call that misses the identity map, and
SQLAlchemy then walks it for a cache key before finding the compiled form; a statement
built once keeps its cache key, which roughly halves the ORM's cost of a primary-key read.
A key already in the identity map (present, expired or deleted) and composite or unusual
keys still go through ``session.get``, so the answer is the same object either way.

While the request's session is idle (no transaction, no unflushed change: see _direct.py),
the read runs as a ``Prepared`` select on the driver, and the row it builds joins the
session as if the session had loaded it: tracked, changed through the unit of work, lazy
relationships loading through the session. That skips SQLAlchemy's execution machinery,
most of an ORM read's cost. Models that load relationships eagerly (their rows would need
the identity map mid-load) and sessions with ``do_orm_execute`` listeners (global filters)
always read through the session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session

from bastion.db._direct import direct_reads
from bastion.db.prepared import Prepared

#: Relationship loading that reads nothing more when the row is loaded.
_LAZY = frozenset({"select", "raise", "raise_on_sql", "noload", "dynamic", "write_only"})


class _Plan:
    """A model's primary-key read: the statement, and its ``Prepared`` form where the driver
    may run it."""

    __slots__ = ("direct", "identity_class", "statement")

    def __init__(self, mapper: Mapper[Any]) -> None:
        model = mapper.class_
        key = mapper.get_property_by_column(mapper.primary_key[0]).key
        self.identity_class = mapper._identity_class
        self.statement = select(model).where(getattr(model, key) == bindparam("key"))
        lazy = all(relationship.lazy in _LAZY for relationship in mapper.relationships)
        self.direct = Prepared(self.statement) if lazy else None


#: Per model: its plan, or None where ``session.get`` is kept.
_by_key: dict[type[Any], _Plan | None] = {}


def _plan(model: type[Any]) -> _Plan | None:
    mapper: Mapper[Any] = inspect(model)
    if len(mapper.primary_key) != 1 or mapper.inherits or mapper.polymorphic_on is not None:
        return None
    return _Plan(mapper)


async def get(model: type[Any], session: AsyncSession, ident: Any) -> Any:
    """What ``await session.get(model, ident)`` returns."""
    try:
        plan = _by_key[model]
    except KeyError:
        plan = _by_key[model] = _plan(model)
    if plan is None or ident is None or isinstance(ident, tuple | list | dict):
        return await session.get(model, ident)
    sync = session.sync_session
    identity_map = sync.identity_map
    if (plan.identity_class, (ident,), None) in identity_map:
        return await session.get(model, ident)  # no SQL, or the session's own refresh rules
    direct = plan.direct
    if direct is None or direct_reads(session) is None or sync.dispatch.do_orm_execute:
        result = await session.execute(plan.statement, {"key": ident})
        return result.unique().scalar_one_or_none()
    row = await direct.first(session, key=ident)
    if row is None:
        return None
    instance = row[0]
    present = identity_map.get(instance._sa_instance_state.key)
    if present is not None:  # the same row under a key of another type ("7" for 7)
        return present
    _attach(sync, instance)  # persistent from here, as if the session had loaded it
    return instance


def _attach(session: Session, instance: Any) -> None:
    """``session.add(instance)`` for a row just read, less the transaction ``add`` begins: a
    begun session reads through itself, so the request's next reads would leave the driver.
    (SQLAlchemy's steps for attaching a detached object, ``Session._update_impl``, without
    its autobegin; nothing is written, so nothing needs the transaction yet.)"""
    state = instance._sa_instance_state
    session.dispatch.before_attach(session, state)
    session.identity_map.add(state)
    session._after_attach(state, instance)
