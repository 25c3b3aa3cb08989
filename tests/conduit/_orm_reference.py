"""Conduit's read endpoints as they were written on the ORM before they moved to prepared
selects: the reference the fast path must match byte for byte (test_fast_reads.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.conduit import schemas
from examples.conduit.models import Article, ArticleTag, Comment, Favorite, Follow, Tag, User


def profile(user: User, following: bool) -> schemas.Profile:
    return schemas.Profile(user.username, user.bio, user.image, following)


async def is_following(db: AsyncSession, viewer: User | None, user: User) -> bool:
    if viewer is None:
        return False
    return await Follow.exists(db, Follow.follower_id == viewer.id, Follow.followed_id == user.id)


def article_query(viewer: User | None) -> Select[Any]:
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


async def tag_lists(db: AsyncSession, article_ids: Sequence[int]) -> dict[int, list[str]]:
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


async def article(db: AsyncSession, viewer: User | None, slug: str) -> Any:
    found = await db.scalar(select(Article).where(Article.slug == slug))
    if found is None:
        return None
    query = article_query(viewer).where(Article.id == found.id)
    (rendered,) = await articles(db, query, with_body=True)
    return schemas.ArticleResponse(rendered)  # type: ignore[arg-type]


async def page(
    db: AsyncSession,
    viewer: User | None,
    conditions: list[ColumnElement[bool]],
    limit: int,
    offset: int,
) -> schemas.ArticleList:
    total = await db.scalar(select(func.count()).select_from(Article).where(*conditions))
    query = article_query(viewer).where(*conditions).limit(limit).offset(offset)
    return schemas.ArticleList(await articles(db, query), total or 0)


async def article_list(
    db: AsyncSession,
    viewer: User | None,
    tag: str | None = None,
    author: str | None = None,
    favorited: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> schemas.ArticleList:
    conditions: list[ColumnElement[bool]] = []
    if tag is not None:
        tagged = select(ArticleTag.article_id).join(Tag).where(Tag.name == tag)
        conditions.append(Article.id.in_(tagged))
    if author is not None:
        conditions.append(Article.author_id.in_(select(User.id).where(User.username == author)))
    if favorited is not None:
        fans = select(Favorite.article_id).join(User).where(User.username == favorited)
        conditions.append(Article.id.in_(fans))
    return await page(db, viewer, conditions, limit, offset)


async def feed(
    db: AsyncSession, viewer: User, limit: int = 20, offset: int = 0
) -> schemas.ArticleList:
    followed = select(Follow.followed_id).where(Follow.follower_id == viewer.id)
    return await page(db, viewer, [Article.author_id.in_(followed)], limit, offset)


async def tags(db: AsyncSession) -> schemas.TagList:
    uses = func.count(ArticleTag.article_id)
    query = (
        select(Tag.name)
        .join(ArticleTag, ArticleTag.tag_id == Tag.id)
        .group_by(Tag.id, Tag.name)
        .order_by(uses.desc(), Tag.name)
    )
    return schemas.TagList(list(await db.scalars(query)))


async def profile_of(db: AsyncSession, viewer: User | None, username: str) -> Any:
    user = await db.scalar(select(User).where(User.username == username))
    if user is None:
        return None
    return schemas.ProfileResponse(profile(user, await is_following(db, viewer, user)))


async def comments(db: AsyncSession, viewer: User | None, slug: str) -> Any:
    found = await db.scalar(select(Article).where(Article.slug == slug))
    if found is None:
        return None
    query = (
        select(Comment)
        .where(Comment.article_id == found.id)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
    )
    rows = list(await db.scalars(query))
    followed: set[int] = set()
    if viewer is not None and rows:
        follows = select(Follow.followed_id).where(
            Follow.follower_id == viewer.id,
            Follow.followed_id.in_({row.author_id for row in rows}),
        )
        followed = set(await db.scalars(follows))
    return schemas.CommentList(
        [
            schemas.CommentOut(
                id=row.id,
                created_at=schemas.timestamp(row.created_at),
                updated_at=schemas.timestamp(row.updated_at),
                body=row.body,
                author=profile(row.author, row.author_id in followed),
            )
            for row in rows
        ]
    )
