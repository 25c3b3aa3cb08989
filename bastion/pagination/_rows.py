"""Running a paged SQLAlchemy query: its rows, shaped into a schema when asked, and its count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def fetch(db: AsyncSession, statement: Select[Any]) -> list[Any]:
    """Entities (or single values) for a select of one thing, ``Row`` objects otherwise."""
    result = await db.execute(statement)
    if len(statement.column_descriptions) == 1:
        return list(result.scalars().all())
    return list(result.all())


async def count(db: AsyncSession, statement: Select[Any]) -> int:
    """How many rows ``statement`` matches, its ordering and paging left out."""
    inner = statement.order_by(None).limit(None).offset(None).subquery()
    return int(await db.scalar(select(func.count()).select_from(inner)) or 0)


def shaped(rows: Sequence[Any], into: Any) -> list[Any]:
    """``rows`` converted into ``into`` (a Struct, dataclass…) by attribute, or as they are."""
    if into is None:
        return list(rows)
    return [
        msgspec.convert(
            dict(row._mapping) if hasattr(row, "_mapping") else row, into, from_attributes=True
        )
        for row in rows
    ]
