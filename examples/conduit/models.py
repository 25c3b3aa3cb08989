"""The tables: users and who follows whom, articles with ordered tags and favourites, comments.

The models keep a metadata of their own (``ConduitModel.metadata``), so Conduit's migrations
see only Conduit's tables even when other apps' models are imported in the same process.
Timestamps are set by Python, not the database: they keep milliseconds on every engine and
stay distinct inside one transaction (PostgreSQL's ``now()`` is the transaction's start).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, MetaData, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bastion.db import Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class ConduitModel(Model):
    """Conduit's base: ``bastion.db.Model`` with its own table registry for migrations."""

    __abstract__ = True
    metadata = MetaData(naming_convention=Model.metadata.naming_convention)


class Stamped:
    """``created_at`` and ``updated_at`` in UTC, with sub-second precision."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


@event.listens_for(Stamped, "before_insert", propagate=True)
def _stamp_once(mapper: Any, connection: Any, row: Stamped) -> None:
    """A new row's two stamps are one reading of the clock: two column defaults read it twice,
    and a millisecond may pass between them, so a new article's ``updatedAt`` would differ."""
    now = utcnow()
    if row.created_at is None:
        row.created_at = now
    if row.updated_at is None:
        row.updated_at = row.created_at


class User(Stamped, ConduitModel):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text, default=None)
    image: Mapped[str | None] = mapped_column(String(1000), default=None)


class Follow(ConduitModel):
    """``follower`` follows ``followed``."""

    __tablename__ = "follows"

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followed_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Article(Stamped, ConduitModel):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_created_at", "created_at"),)  # lists: newest first

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    author: Mapped[User] = relationship(User, lazy="joined", innerjoin=True)


class Tag(ConduitModel):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class ArticleTag(ConduitModel):
    """A tag on an article; a ``tagList`` is shown sorted by name, as RealWorld's reference does."""

    __tablename__ = "article_tags"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Favorite(ConduitModel):
    __tablename__ = "favorites"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Comment(Stamped, ConduitModel):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    author: Mapped[User] = relationship(User, lazy="joined", innerjoin=True)
