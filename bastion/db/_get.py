"""``Model.get``: ``session.get`` with its SELECT built once per model.

``session.get`` builds a new ``select()`` for every call that misses the identity map, and
SQLAlchemy then walks it for a cache key before finding the compiled form; a statement
built once keeps its cache key, which roughly halves the ORM's cost of a primary-key read.
A key already in the identity map (present, expired or deleted) and composite or unusual
keys still go through ``session.get``, so the answer is the same object either way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

#: Per model: (identity class, the statement), or None where ``session.get`` is kept.
_by_key: dict[type[Any], tuple[type[Any], Select[Any]] | None] = {}


def _statement(model: type[Any]) -> tuple[type[Any], Select[Any]] | None:
    mapper: Mapper[Any] = inspect(model)
    if len(mapper.primary_key) != 1 or mapper.inherits or mapper.polymorphic_on is not None:
        return None
    key = mapper.get_property_by_column(mapper.primary_key[0]).key
    return mapper._identity_class, select(model).where(getattr(model, key) == bindparam("key"))


async def get(model: type[Any], session: AsyncSession, ident: Any) -> Any:
    """What ``await session.get(model, ident)`` returns."""
    try:
        plan = _by_key[model]
    except KeyError:
        plan = _by_key[model] = _statement(model)
    if plan is None or ident is None or isinstance(ident, tuple | list | dict):
        return await session.get(model, ident)
    identity_class, statement = plan
    if (identity_class, (ident,), None) in session.sync_session.identity_map:
        return await session.get(model, ident)  # no SQL, or the session's own refresh rules
    result = await session.execute(statement, {"key": ident})
    return result.unique().scalar_one_or_none()
