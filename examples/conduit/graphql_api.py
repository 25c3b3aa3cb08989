"""GraphQL at ``/graphql`` over the same models, queries and token auth as ``/api``.

The resolvers call the functions the REST routes call (``views.articles``, ``find_article``,
``profile_of``, ``comments``...), so both APIs answer from the same prepared statements and
agree row for row; only the shape differs. Auth is the same ``Authorization: Token <jwt>``:
``IsAuthenticated`` guards the feed, ``me`` and the mutations, and a bad token is a 401
before any resolver runs, as on ``/api``. Inputs are checked by the REST API's own msgspec
schemas (a blank title is refused with the same reason). Article lists, comments and tags
are read in one statement each, as on ``/api``; an article's author comes with it.

    { articles(tag: "dragons", limit: 5) { articlesCount articles { slug author { username } } } }
    mutation { addComment(slug: "how-to-train", body: "Thanks!") { id author { username } } }
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from bastion import Request
from bastion.auth.plugin import Authentication
from bastion.cache import Cache
from bastion.exceptions import HTTPError
from bastion.graphql import Context, GraphQL, IsAuthenticated
from bastion.notifications import notify

from . import schemas, views
from .auth import MaybeReader
from .caching import ARTICLES, TAGS, invalidate
from .errors import ApiError
from .models import Article as ArticleRow
from .models import Favorite, Follow, User
from .notifications import ArticleCommented
from .routes.articles import set_tags, unique_slug
from .routes.profiles import find as find_user
from .routes.tags import TAGS_IN_USE

#: The largest page a list gives, as on /api.
MAX_LIMIT = 1000


@dataclass
class ConduitContext(Context):
    """``info.context`` in Conduit's resolvers: the session, the cache, who is asking.

    GraphQL resolves the fields of a query concurrently, and a session runs one statement at
    a time: resolvers take ``session()``, which hands the session out one at a time. Who is
    asking is settled before any field runs (the token checked, the user loaded once), so
    permission checks on several fields never race for the session either.
    """

    db: AsyncSession
    cache: Cache
    auth: Authentication
    reader: int | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def authentication(self) -> Authentication:
        return self.auth

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.lock:
            yield self.db


async def conduit_context(
    request: Request, db: AsyncSession, cache: Cache, auth: Authentication, reader: MaybeReader
) -> ConduitContext:
    return ConduitContext(request, db, cache, auth, reader)


ConduitInfo = Info[ConduitContext, None]


# -- types -----------------------------------------------------------------------------------
@strawberry.type
class Profile:
    username: str
    bio: str | None
    image: str | None
    following: bool

    @staticmethod
    def of(found: schemas.Profile) -> Profile:
        return Profile(
            username=found.username, bio=found.bio, image=found.image, following=found.following
        )


@strawberry.type
class Article:
    slug: str
    title: str
    description: str
    #: None in lists, as /api's lists leave the body out.
    body: str | None
    tag_list: list[str]
    created_at: str
    updated_at: str
    favorited: bool
    favorites_count: int
    author: Profile

    @staticmethod
    def of(found: schemas.ArticleSummary) -> Article:
        return Article(
            slug=found.slug,
            title=found.title,
            description=found.description,
            body=getattr(found, "body", None),
            tag_list=found.tag_list,
            created_at=found.created_at,
            updated_at=found.updated_at,
            favorited=found.favorited,
            favorites_count=found.favorites_count,
            author=Profile.of(found.author),
        )


@strawberry.type
class ArticleList:
    articles: list[Article]
    #: Every article matching the filters, not just this page.
    articles_count: int


@strawberry.type
class Comment:
    id: int
    created_at: str
    updated_at: str
    body: str
    author: Profile

    @staticmethod
    def of(found: schemas.CommentOut) -> Comment:
        return Comment(
            id=found.id,
            created_at=found.created_at,
            updated_at=found.updated_at,
            body=found.body,
            author=Profile.of(found.author),
        )


@strawberry.type
class Me:
    username: str
    email: str
    bio: str | None
    image: str | None


@strawberry.input
class ArticleInput:
    title: str
    description: str
    body: str
    tag_list: list[str] | None = None


# -- helpers ---------------------------------------------------------------------------------
def _page(limit: int, offset: int) -> tuple[int, int]:
    """``limit`` and ``offset`` within /api's bounds, or a 422 naming the argument."""
    for name, value, most in (("limit", limit, MAX_LIMIT), ("offset", offset, 2**31 - 1)):
        if not 0 <= value <= most:
            raise HTTPError(f"{name} must be from 0 to {most}", status_code=422)
    return limit, offset


def _checked(kind: type[Any], value: dict[str, Any]) -> Any:
    """``value`` as the REST schema ``kind``, or a 422 saying which field and why."""
    try:
        return msgspec.convert(value, kind, str_keys=True)
    except msgspec.ValidationError as exc:
        raise HTTPError(str(exc).replace("$.", ""), status_code=422) from None


async def _viewer(info: ConduitInfo) -> User:
    user: User = info.context.auth.user  # IsAuthenticated ran first: never None
    return user


async def _or_none(found: Any) -> Any:
    try:
        return await found
    except ApiError as error:
        if error.status_code == 404:
            return None
        raise


# -- the schema ------------------------------------------------------------------------------
@strawberry.type
class Query:
    @strawberry.field(description="Newest first; tag, author and favorited narrow the list.")
    async def articles(
        self,
        info: ConduitInfo,
        tag: str | None = None,
        author: str | None = None,
        favorited: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> ArticleList:
        limit, offset = _page(limit, offset)
        asked = {"tag": tag, "author": author, "favorited": favorited}
        filters = {name: value for name, value in asked.items() if value is not None}
        async with info.context.session() as db:
            found = await views.articles(db, info.context.reader, limit, offset, filters)
        return ArticleList(
            articles=[Article.of(a) for a in found.articles], articles_count=found.articles_count
        )

    @strawberry.field(permission_classes=[IsAuthenticated], description="By the users you follow.")
    async def feed(self, info: ConduitInfo, limit: int = 20, offset: int = 0) -> ArticleList:
        limit, offset = _page(limit, offset)
        viewer = await _viewer(info)
        async with info.context.session() as db:
            found = await views.articles(db, viewer.id, limit, offset, {}, feed=True)
        return ArticleList(
            articles=[Article.of(a) for a in found.articles], articles_count=found.articles_count
        )

    @strawberry.field(description="The article with this slug, or null.")
    async def article(self, info: ConduitInfo, slug: str) -> Article | None:
        async with info.context.session() as db:
            found = await _or_none(views.find_article(db, info.context.reader, slug))
        return None if found is None else Article.of(found[1])

    @strawberry.field(description="The user with this username, or null.")
    async def profile(self, info: ConduitInfo, username: str) -> Profile | None:
        async with info.context.session() as db:
            found = await _or_none(views.profile_of(db, info.context.reader, username))
        return None if found is None else Profile.of(found)

    @strawberry.field(description="The comments on an article, newest first.")
    async def comments(self, info: ConduitInfo, slug: str) -> list[Comment]:
        async with info.context.session() as db:
            found = await views.comments(db, info.context.reader, slug)
        return [Comment.of(c) for c in found.comments]

    @strawberry.field(description="Tags in use, the most used first.")
    async def tags(self, info: ConduitInfo) -> list[str]:
        async with info.context.session() as db:
            return list(await TAGS_IN_USE.scalars(db))

    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in user.")
    async def me(self, info: ConduitInfo) -> Me:
        user = await _viewer(info)
        return Me(username=user.username, email=user.email, bio=user.bio, image=user.image)


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_article(self, info: ConduitInfo, article: ArticleInput) -> Article:
        new: schemas.NewArticle = _checked(
            schemas.NewArticle,
            {
                "title": article.title,
                "description": article.description,
                "body": article.body,
                "tagList": article.tag_list,
            },
        )
        viewer, db = await _viewer(info), info.context.db  # mutations run one at a time
        row = ArticleRow(
            slug=await unique_slug(db, new.title),
            title=new.title,
            description=new.description,
            body=new.body,
            author_id=viewer.id,
        )
        db.add(row)
        await db.flush()
        await set_tags(db, row, new.tag_list or [])
        invalidate(db, info.context.cache, ARTICLES, TAGS)
        _id, found = await views.find_article(db, viewer.id, row.slug)
        return Article.of(found)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def add_comment(self, info: ConduitInfo, slug: str, body: str) -> Comment:
        checked: schemas.NewComment = _checked(schemas.NewComment, {"body": body})
        viewer, db = await _viewer(info), info.context.db  # mutations run one at a time
        target, commenter = await views.comment_target(db, viewer.id, slug)
        comment = await views.add_comment(db, target, commenter, viewer.id, checked.body)
        if target.author_id != viewer.id:  # as on /api: the author is told
            await notify(target.author, ArticleCommented(target, comment))
        return Comment.of(comment)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def favorite_article(self, info: ConduitInfo, slug: str) -> Article:
        viewer, db = await _viewer(info), info.context.db  # mutations run one at a time
        article_id, found = await views.find_article(db, viewer.id, slug)
        if not found.favorited:
            db.add(Favorite(user_id=viewer.id, article_id=article_id))
            invalidate(db, info.context.cache, ARTICLES)
            found = msgspec.structs.replace(
                found, favorited=True, favorites_count=found.favorites_count + 1
            )
        return Article.of(found)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def follow_user(self, info: ConduitInfo, username: str) -> Profile:
        viewer, db = await _viewer(info), info.context.db  # mutations run one at a time
        user = await find_user(db, username)
        if not await views.is_following(db, viewer, user):
            db.add(Follow(follower_id=viewer.id, followed_id=user.id))
            await db.flush()
        return Profile.of(views.profile(user, following=True))


schema = strawberry.Schema(query=Query, mutation=Mutation)


def conduit_graphql() -> GraphQL:
    """The plugin: ``/graphql`` with GraphiQL, the default limits and persisted queries."""
    return GraphQL(schema, context=conduit_context)
