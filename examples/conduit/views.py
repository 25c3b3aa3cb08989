"""Rows as one reader sees them: ``following`` and ``favorited`` depend on who asks.

Every read is a prepared select (``bastion.db.Prepared``), built once from the models when
the module loads: each read endpoint runs one statement (a list adds its count), with an
article's favourite count, its tags and the reader's flags as subqueries. The reader is the
``reader`` parameter (the reader's user id), None for anonymous readers, which matches no
favourite and no follow.
On PostgreSQL they run straight on asyncpg while the request has written nothing; anywhere
else through the session, with the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bastion import Unauthorized
from bastion.db import Prepared, list_of

from . import schemas
from .errors import not_found
from .models import Article, ArticleTag, Comment, Favorite, Follow, Tag, User

#: The reader's id (None for anonymous readers).
VIEWER = bindparam("viewer", type_=Integer)
#: The user who wrote an article or a comment, apart from users a filter names.
Author = aliased(User, name="author")


def following(user_id: Any) -> ColumnElement[bool]:
    """Whether the reader follows ``user_id``."""
    return exists().where(Follow.followed_id == user_id, Follow.follower_id == VIEWER)


FAVORITES_COUNT = select(func.count()).where(Favorite.article_id == Article.id).scalar_subquery()
FAVORITED = exists().where(Favorite.article_id == Article.id, Favorite.user_id == VIEWER)
TAG_NAMES = (
    select(list_of(Tag.name))
    .join(ArticleTag, ArticleTag.tag_id == Tag.id)
    .where(ArticleTag.article_id == Article.id)
    .scalar_subquery()
)
AUTHOR = (Author.username, Author.bio, Author.image, following(Article.author_id))

#: An article in a list, newest first: add filters, limit and offset.
SUMMARIES = (
    select(
        Article.slug,
        Article.title,
        Article.description,
        TAG_NAMES,
        Article.created_at,
        Article.updated_at,
        FAVORITED,
        FAVORITES_COUNT,
        *AUTHOR,
    )
    .join(Article.author.of_type(Author))
    .order_by(Article.created_at.desc(), Article.id.desc())
)
#: One article with its body, and its id for a write (favourites) that follows the read.
ARTICLE = Prepared(
    SUMMARIES.add_columns(Article.body, Article.id).where(Article.slug == bindparam("slug"))
)
#: The same before a write by the reader, with whether the reader's account still exists: a
#: token says who, not that the user is still there.
ARTICLE_TO_CHANGE = Prepared(ARTICLE.statement.add_columns(exists().where(User.id == VIEWER)))

#: What ``GET /api/articles`` and the feed may filter on.
FILTERS: dict[str, ColumnElement[bool]] = {
    "tag": Article.id.in_(
        select(ArticleTag.article_id).join(Tag).where(Tag.name == bindparam("tag"))
    ),
    "author": Article.author_id.in_(select(User.id).where(User.username == bindparam("author"))),
    "favorited": Article.id.in_(
        select(Favorite.article_id).join(User).where(User.username == bindparam("favorited"))
    ),
    "feed": Article.author_id.in_(select(Follow.followed_id).where(Follow.follower_id == VIEWER)),
}

COMMENT_COLUMNS = (
    Comment.id,
    Comment.created_at,
    Comment.updated_at,
    Comment.body,
    Author.username,
    Author.bio,
    Author.image,
    following(Comment.author_id),
)
#: An article's comments, newest first; the article with None for a comment when it has none.
COMMENTS = Prepared(
    select(*COMMENT_COLUMNS)
    .select_from(Article)
    .outerjoin(Comment, Comment.article_id == Article.id)
    .outerjoin(Comment.author.of_type(Author))
    .where(Article.slug == bindparam("slug"))
    .order_by(Comment.created_at.desc(), Comment.id.desc())
)
#: Who writes a comment, apart from the article's author.
Commenter = aliased(User, name="commenter")
#: The article a comment goes on, read-only, with its author (whom the comment notifies), and
#: the commenter's profile as the answer shows it: all None when the token's account is gone.
COMMENT_TARGET = Prepared(
    select(Article, Commenter.username, Commenter.bio, Commenter.image, following(VIEWER))
    .select_from(Article)
    .outerjoin(Commenter, Commenter.id == VIEWER)
    .where(Article.slug == bindparam("slug"))
)
#: A new comment, its id and timestamps returned by the same statement: a prepared write on
#: the table, which runs on the driver inside the request's transaction.
COMMENTS_TABLE = Comment.__table__
ADD_COMMENT = Prepared(
    insert(COMMENTS_TABLE)
    .values(
        body=bindparam("body"),
        article_id=bindparam("article"),
        author_id=bindparam("author"),
    )
    .returning(COMMENTS_TABLE.c.id, COMMENTS_TABLE.c.created_at, COMMENTS_TABLE.c.updated_at)
)
PROFILE = Prepared(
    select(User.username, User.bio, User.image, following(User.id).label("following")).where(
        User.username == bindparam("username")
    )
).into(schemas.Profile)


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


async def profile_of(db: AsyncSession, reader: int | None, username: str) -> schemas.Profile:
    """``username``'s profile as the reader sees it; 404 when there is no such user."""
    found = await PROFILE.first(db, username=username, viewer=reader)
    if found is None:
        raise not_found("profile")
    return found


def summary(row: Any) -> schemas.ArticleSummary:
    return schemas.ArticleSummary(**_article_fields(row))


def _article_fields(row: Any) -> dict[str, Any]:
    slug, title, description, tags, created, updated, favorited, count, *author = row[:12]
    return {
        "slug": slug,
        "title": title,
        "description": description,
        "tag_list": sorted(tags),  # by Python, not by the database's collation: RealWorld's
        "created_at": schemas.timestamp(created),
        "updated_at": schemas.timestamp(updated),
        "favorited": favorited,
        "favorites_count": count,
        "author": schemas.Profile(*author),
    }


async def article(db: AsyncSession, reader: int | None, slug: str) -> schemas.ArticleResponse:
    """One article, with its body, wrapped as ``{"article": ...}``; 404 when there is none."""
    _id, found = await find_article(db, reader, slug)
    return schemas.ArticleResponse(found)


async def find_article(
    db: AsyncSession, reader: int | None, slug: str
) -> tuple[int, schemas.ArticleOut]:
    """The article's id and the article as the reader sees it; 404 when there is none."""
    row = await ARTICLE.first(db, slug=slug, viewer=reader)
    if row is None:
        raise not_found("article")
    return row[13], schemas.ArticleOut(**_article_fields(row), body=row[12])


async def article_to_change(
    db: AsyncSession, writer: int, slug: str
) -> tuple[int, schemas.ArticleOut]:
    """``find_article`` for a write by ``writer``, a user id from a token: 401 when that
    account is gone, in the same statement (no read of the user first)."""
    row = await ARTICLE_TO_CHANGE.first(db, slug=slug, viewer=writer)
    if row is not None and not row[14]:
        raise Unauthorized("the token's user no longer exists")
    if row is None:
        raise not_found("article")
    return row[13], schemas.ArticleOut(**_article_fields(row), body=row[12])


@cache
def article_page(*filters: str) -> tuple[Prepared, Prepared]:
    """The page of articles matching ``filters`` (keys of ``FILTERS``), each row with the
    count of every match, and the count alone (for a page past the end); prepared once for
    each combination asked for."""
    conditions = [FILTERS[name] for name in filters]
    count = select(func.count()).select_from(Article).where(*conditions)
    page = (
        SUMMARIES.add_columns(count.scalar_subquery())
        .where(*conditions)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return Prepared(page), Prepared(count)


async def articles(
    db: AsyncSession,
    reader: int | None,
    limit: int,
    offset: int,
    filters: Mapping[str, str],
    *,
    feed: bool = False,
) -> schemas.ArticleList:
    """A page of articles matching ``filters`` (``{"tag": "dragons"}``, ``author``,
    ``favorited``), by the authors the reader follows when ``feed``: one statement, and a
    count of its own when the page is empty."""
    page, count = article_page(*filters, *(["feed"] if feed else []))
    params = {**filters, "viewer": reader}
    rows = await page.all(db, **params, limit=limit, offset=offset)
    total = rows[0][12] if rows else await count.scalar(db, **params)
    return schemas.ArticleList([summary(row) for row in rows], total)


def comment_out(row: Any) -> schemas.CommentOut:
    id_, created, updated, body, *author = row
    return schemas.CommentOut(
        id_,
        schemas.timestamp(created),
        schemas.timestamp(updated),
        body,
        schemas.Profile(*author),
    )


async def comments(db: AsyncSession, reader: int | None, slug: str) -> schemas.CommentList:
    """The comments on the article ``slug``; 404 when there is no such article."""
    rows = await COMMENTS.all(db, slug=slug, viewer=reader)
    if not rows:
        raise not_found("article")
    return schemas.CommentList([comment_out(row) for row in rows if row[0] is not None])


async def comment_target(
    db: AsyncSession, writer: int, slug: str
) -> tuple[Article, schemas.Profile]:
    """The article ``slug`` and the profile of ``writer`` (a user id from a token), who
    comments on it, in one statement: 404 when there is no such article, 401 when that
    account is gone."""
    row = await COMMENT_TARGET.first(db, slug=slug, viewer=writer)
    if row is None:
        raise not_found("article")
    article, username, bio, image, follows_self = row
    if username is None:
        raise Unauthorized("the token's user no longer exists")
    return article, schemas.Profile(username, bio, image, follows_self)


async def add_comment(
    db: AsyncSession, article: Article, author: schemas.Profile, writer: int, body: str
) -> schemas.CommentOut:
    """Write ``writer``'s comment on ``article``: one INSERT in the request's transaction,
    whose answer needs no read."""
    comment_id, created_at, updated_at = await ADD_COMMENT.one(
        db, body=body, article=article.id, author=writer
    )
    return schemas.CommentOut(
        comment_id, schemas.timestamp(created_at), schemas.timestamp(updated_at), body, author
    )
