"""The declarative base, with constraint naming conventions Alembic can diff reliably."""

from __future__ import annotations

from typing import Any, Self

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from bastion.exceptions import NotFound

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(DeclarativeBase):
    """Base class of your models; plain SQLAlchemy, plus a few Active Record shortcuts."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    @classmethod
    async def get(cls, session: AsyncSession, ident: Any) -> Self | None:
        """The row with primary key ``ident``, or None."""
        return await session.get(cls, ident)

    @classmethod
    async def get_or_404(cls, session: AsyncSession, ident: Any) -> Self:
        """The row with primary key ``ident``, or a 404 problem naming the model."""
        row = await session.get(cls, ident)
        if row is None:
            raise NotFound(f"{cls.__name__} {ident} does not exist")
        return row

    @classmethod
    async def exists(cls, session: AsyncSession, *where: Any) -> bool:
        """Whether any row matches the given conditions."""
        query = select(select(cls).where(*where).exists())
        return bool(await session.scalar(query))
