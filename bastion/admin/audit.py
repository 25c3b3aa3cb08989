"""The audit log: one row per change made through the admin, with who made it, when, and
the row's columns before and after as JSON (None before an addition, after a deletion)."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.admin._access import Staff
from bastion.admin._schema import audit
from bastion.admin.options import ModelAdmin

#: Characters of one text value kept in the log (long bodies are cut, marked with …).
MAX_TEXT = 2000


def snapshot(admin: ModelAdmin, obj: Any) -> dict[str, Any]:
    """The row's column values, as JSON-ready values, and the keys of its many-to-many
    rows (loaded first: see ``load_many``)."""
    values = {key: _plain(getattr(obj, key, None)) for key in admin.columns}
    for key in admin.many:
        related = getattr(obj, key, None) or ()
        values[key] = sorted(_plain(sa.inspect(r).identity[0]) for r in related)
    return values


async def load_many(db: AsyncSession, admin: ModelAdmin, obj: Any) -> None:
    """Load the many-to-many collections, which async code cannot read lazily."""
    if admin.many:
        await db.refresh(obj, attribute_names=admin.many)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


async def record(
    db: AsyncSession,
    staff: Staff,
    admin: ModelAdmin,
    action: str,
    obj: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Add one entry, in the same transaction as the change it describes."""
    await db.execute(
        sa.insert(audit).values(
            at=datetime.datetime.now(datetime.UTC),
            subject=staff.subject,
            who=staff.name[:255],
            action=action[:64],
            model=admin.name,
            object_id=str(getattr(obj, admin.pk_key))[:255],
            object_repr=admin.repr(obj),
            before=before,
            after=after,
        )
    )


def changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The columns whose value differs, for the log's summary column."""
    keys = (before or {}).keys() | (after or {}).keys()
    return sorted(k for k in keys if (before or {}).get(k) != (after or {}).get(k))
