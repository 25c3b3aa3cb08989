"""Rows as one reader sees them: ``following`` and ``favorited`` depend on who asks.

Lists are built with a fixed number of queries whatever their length: the page (with each
article's favourite count and the reader's flags as subqueries), then the tags of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Select, exists, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import schemas
from .models import Article, ArticleTag, Comment, Favorite, Follow, Tag, User


def user_out(user: User, token: str) -> schemas.UserResponse:
    return schemas.UserResponse(
        schemas.UserOut(user.email, token, user.username, user.bio, user.image)
    )


def profile(user: User, following: bool) -> schemas.Profile:
    return schemas.Profile(user.username, user.bio, user.image, following)


async def is_following(db: AsyncSession, viewer: User | None, user: User) -> bool:
    if viewer is None:
        return False
    return await Follow.exists(db, Follow.follower_id == viewer.id, Follow.followed_id == user.id)


def article_query(viewer: User | None) -> Select[Any]:
    """``(Article, favorites_count, favorited, following)`` rows, newest first; add filters,
    limit and offset."""
    count = (
        select(func.count())
        .where(Favorite.article_id == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    if viewer is None:
        favorited: Any = false()
        following: Any = false()
    else:
        favorited = exists().where(Favorite.article_id == Article.id, Favorite.user_id == viewer.id)
        following = exists().where(
            Follow.followed_id == Article.author_id, Follow.follower_id == viewer.id
        )
    return select(Article, count, favorited, following).order_by(
        Article.created_at.desc(), Article.id.desc()
    )


async def articles(
    db: AsyncSession, query: Select[Any], *, with_body: bool = False
) -> list[schemas.ArticleSummary]:
    """Run an ``article_query`` and render its rows (with the body for single articles)."""
    rows = (await db.execute(query)).all()
    tags = await tag_lists(db, [row[0].id for row in rows])
    rendered: list[schemas.ArticleSummary] = []
    for article, count, favorited, following in rows:
        fields = {
            "slug": article.slug,
            "title": article.title,
            "description": article.description,
            "tag_list": tags.get(article.id, []),
            "created_at": schemas.timestamp(article.created_at),
            "updated_at": schemas.timestamp(article.updated_at),
            "favorited": bool(favorited),
            "favorites_count": count,
            "author": profile(article.author, bool(following)),
        }
        if with_body:
            rendered.append(schemas.ArticleOut(body=article.body, **fields))
        else:
            rendered.append(schemas.ArticleSummary(**fields))
    return rendered


async def article(
    db: AsyncSession, viewer: User | None, article_id: int
) -> schemas.ArticleResponse:
    """One article, with its body, wrapped as ``{"article": ...}``."""
    query = article_query(viewer).where(Article.id == article_id)
    (found,) = await articles(db, query, with_body=True)
    return schemas.ArticleResponse(cast(schemas.ArticleOut, found))


async def tag_lists(db: AsyncSession, article_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each article's tags sorted by name, as RealWorld's reference shows them. Sorted here,
    not by the database, whose collation (PostgreSQL's locale) would order case differently."""
    if not article_ids:
        return {}
    query = (
        select(ArticleTag.article_id, Tag.name)
        .join(Tag, Tag.id == ArticleTag.tag_id)
        .where(ArticleTag.article_id.in_(article_ids))
    )
    found: dict[int, list[str]] = {}
    for article_id, name in await db.execute(query):
        found.setdefault(article_id, []).append(name)
    return {article_id: sorted(names) for article_id, names in found.items()}


async def comments(
    db: AsyncSession, viewer: User | None, rows: Sequence[Comment]
) -> list[schemas.CommentOut]:
    followed: set[int] = set()
    if viewer is not None and rows:
        query = select(Follow.followed_id).where(
            Follow.follower_id == viewer.id,
            Follow.followed_id.in_({row.author_id for row in rows}),
        )
        followed = set(await db.scalars(query))
    return [
        schemas.CommentOut(
            id=row.id,
            created_at=schemas.timestamp(row.created_at),
            updated_at=schemas.timestamp(row.updated_at),
            body=row.body,
            author=profile(row.author, row.author_id in followed),
        )
        for row in rows
    ]
