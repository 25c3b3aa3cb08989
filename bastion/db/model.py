"""The declarative base, with constraint naming conventions Alembic can diff reliably."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Self

from sqlalchemy import DateTime, MetaData, event, func, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from bastion.db import _get
from bastion.exceptions import NotFound

#: ``Column.info`` key of columns the application maintains: ``schemas_for`` leaves them out
#: of create and update schemas (the mixins' timestamps).
READ_ONLY_KEY = "bastion.read_only"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(AsyncAttrs, DeclarativeBase):
    """Base class of your models; plain SQLAlchemy, plus a few Active Record shortcuts, and
    ``await row.awaitable_attrs.relation`` to load a lazy relationship from async code."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    @classmethod
    async def get(cls, session: AsyncSession, ident: Any) -> Self | None:
        """The row with primary key ``ident``, or None (``session.get``, with the SELECT
        built once per model)."""
        row: Self | None = await _get.get(cls, session, ident)
        return row

    @classmethod
    async def get_or_404(cls, session: AsyncSession, ident: Any) -> Self:
        """The row with primary key ``ident``, or a 404 problem naming the model."""
        row = await cls.get(session, ident)
        if row is None:
            raise NotFound(f"{cls.__name__} {ident} does not exist")
        return row

    @classmethod
    async def exists(cls, session: AsyncSession, *where: Any) -> bool:
        """Whether any row matches the given conditions."""
        query = select(select(cls).where(*where).exists())
        return bool(await session.scalar(query))


class IntPK:
    """An auto-incrementing integer primary key ``id``."""

    id: Mapped[int] = mapped_column(primary_key=True)


class UUIDPK:
    """A UUID primary key ``id``, made by the application (safe to expose in URLs)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _as_created(context: Any) -> datetime.datetime:
    """A new row's ``updated_at``: its ``created_at``, not a second reading of the clock."""
    created = context.get_current_parameters().get("created_at")
    return created if isinstance(created, datetime.datetime) else utc_now()


class Timestamps:
    """``created_at`` and ``updated_at`` in UTC, to the microsecond. Set by the application,
    so they are known right after a flush (no refresh, which async sessions cannot do
    lazily) and exact on SQLite too, whose ``CURRENT_TIMESTAMP`` has whole seconds; the
    database's ``now()`` remains the default for rows inserted by plain SQL."""

    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True),
        default=utc_now,
        server_default=func.now(),
        info={READ_ONLY_KEY: True},
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True),
        default=_as_created,
        server_default=func.now(),
        onupdate=utc_now,
        info={READ_ONLY_KEY: True},
    )


class SoftDelete:
    """``deleted_at`` instead of deleting: ``row.soft_delete()``, and filter with
    ``Model.not_deleted()`` in queries."""

    deleted_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None, info={READ_ONLY_KEY: True}
    )

    def soft_delete(self) -> None:
        self.deleted_at = utc_now()

    @classmethod
    def not_deleted(cls) -> Any:
        return cls.deleted_at.is_(None)


def _in_utc(names: tuple[str, ...]) -> Any:
    """SQLite keeps no time zone, so a loaded row's timestamps would come back naive and
    differ from the same row as written (its JSON, hence its ETag): mark them UTC again."""

    def restore(target: Any, *_: Any) -> None:
        loaded = target.__dict__
        for name in names:
            value = loaded.get(name)
            if value is not None and value.tzinfo is None:
                set_committed_value(target, name, value.replace(tzinfo=datetime.UTC))

    return restore


for _mixin, _names in ((Timestamps, ("created_at", "updated_at")), (SoftDelete, ("deleted_at",))):
    event.listen(_mixin, "load", _in_utc(_names), propagate=True)
    event.listen(_mixin, "refresh", _in_utc(_names), propagate=True)
