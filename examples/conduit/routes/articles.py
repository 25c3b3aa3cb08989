"""Articles: list and filter, the feed, create, read, update, delete, favourite."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from msgspec import UNSET
from msgspec.structs import replace
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Query, Router
from bastion.cache import Cache
from bastion.db import Prepared

from .. import views
from ..auth import MaybeReader, Viewer, Writer
from ..caching import ARTICLES, TAGS, cached, invalidate
from ..errors import BODY_ERRORS, documented, forbidden, not_found
from ..models import Article, ArticleTag, Favorite, Tag, User, utcnow
from ..schemas import ArticleList, ArticleResponse, NewArticleRequest, UpdateArticleRequest

router = Router("/articles", tags=["articles"])
Limit = Annotated[int, Query(ge=0, le=1000, description="Articles per page")]
#: Bounded so every database can hold it (a 64-bit overflow was a 500); no list is this long.
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="Articles to skip")]


@router.get("/", responses=documented(400, 401, 422), middleware=[cached(ARTICLES)])
async def list_articles(
    db: AsyncSession,
    reader: MaybeReader,
    tag: str | None = None,
    author: str | None = None,
    favorited: str | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ArticleList:
    """Newest first; ``tag``, ``author`` (a username) and ``favorited`` (by that username)
    narrow the list, and ``articlesCount`` counts every match, not just this page."""
    asked = {"tag": tag, "author": author, "favorited": favorited}
    filters = {name: value for name, value in asked.items() if value is not None}
    return await views.articles(db, reader, limit, offset, filters)


@router.get("/feed", responses=documented(400, 401, 422))
async def feed(
    db: AsyncSession, viewer: Viewer, limit: Limit = 20, offset: Offset = 0
) -> ArticleList:
    """Articles by the users the reader follows, newest first."""
    return await views.articles(db, viewer.id, limit, offset, {}, feed=True)


@router.post("/", status_code=201, responses=documented(*BODY_ERRORS, 401))
async def create(
    body: NewArticleRequest, db: AsyncSession, viewer: Viewer, cache: Cache
) -> ArticleResponse:
    new = body.article
    article = Article(
        slug=await unique_slug(db, new.title),
        title=new.title,
        description=new.description,
        body=new.body,
        author_id=viewer.id,
    )
    db.add(article)
    await db.flush()
    await set_tags(db, article, new.tag_list or [])
    invalidate(db, cache, ARTICLES, TAGS)
    return await views.article(db, viewer.id, article.slug)


@router.get("/{slug}", responses=documented(400, 401, 404, 422))
async def show(slug: str, db: AsyncSession, reader: MaybeReader) -> ArticleResponse:
    return await views.article(db, reader, slug)


@router.put("/{slug}", responses=documented(*BODY_ERRORS, 401, 403, 404))
async def update(
    slug: str, body: UpdateArticleRequest, db: AsyncSession, viewer: Viewer, cache: Cache
) -> ArticleResponse:
    """Only the author may; the fields sent change, and a new title gives a new slug."""
    article = await find(db, slug, owner=viewer)
    changes = body.article
    if isinstance(changes.title, str) and changes.title != article.title:
        article.slug = await unique_slug(db, changes.title, keep=article.id)
        article.title = changes.title
    if isinstance(changes.description, str):
        article.description = changes.description
    if isinstance(changes.body, str):
        article.body = changes.body
    if changes.tag_list is not UNSET:
        await set_tags(db, article, changes.tag_list)
        invalidate(db, cache, TAGS)
    article.updated_at = utcnow()
    await db.flush()
    invalidate(db, cache, ARTICLES)
    return await views.article(db, viewer.id, article.slug)


@router.delete("/{slug}", responses=documented(400, 401, 403, 404, 422))
async def remove(slug: str, db: AsyncSession, viewer: Viewer, cache: Cache) -> None:
    """204; its comments, tags and favourites go with it."""
    article = await find(db, slug, owner=viewer)
    await db.delete(article)
    invalidate(db, cache, ARTICLES, TAGS)


@router.post("/{slug}/favorite", status_code=200, responses=documented(400, 401, 404, 422))
async def favorite(slug: str, db: AsyncSession, writer: Writer, cache: Cache) -> ArticleResponse:
    """Idempotent: favouriting twice counts once. The article is read once, before the
    change, and answered with the change applied."""
    article_id, article = await views.article_to_change(db, writer, slug)
    if not article.favorited:
        await FAVORITE.execute(db, user=writer, article=article_id)
        invalidate(db, cache, ARTICLES)  # its favoritesCount
        article = replace(article, favorited=True, favorites_count=article.favorites_count + 1)
    return ArticleResponse(article)


@router.delete("/{slug}/favorite", status_code=200, responses=documented(400, 401, 404, 422))
async def unfavorite(slug: str, db: AsyncSession, writer: Writer, cache: Cache) -> ArticleResponse:
    article_id, article = await views.article_to_change(db, writer, slug)
    if article.favorited:
        removed = await UNFAVORITE.execute(db, user=writer, article=article_id)
        if removed:  # not already removed by a twin request
            invalidate(db, cache, ARTICLES)
            article = replace(article, favorites_count=article.favorites_count - 1)
        article = replace(article, favorited=False)
    return ArticleResponse(article)


# -- helpers ---------------------------------------------------------------------------------
#: Built once: SQLAlchemy finds its compiled form without walking a new statement each time.
ARTICLE_BY_SLUG = select(Article).where(Article.slug == bindparam("slug"))
#: A favourite is a bare pair of ids: one prepared INSERT or DELETE on the table, run on the
#: driver inside the request's transaction, without the unit of work's bookkeeping.
FAVORITES = Favorite.__table__
FAVORITE = Prepared(
    insert(FAVORITES).values(user_id=bindparam("user"), article_id=bindparam("article"))
)
UNFAVORITE = Prepared(
    delete(FAVORITES).where(
        FAVORITES.c.user_id == bindparam("user"), FAVORITES.c.article_id == bindparam("article")
    )
)


async def find(db: AsyncSession, slug: str, *, owner: User | None = None) -> Article:
    """The article with ``slug``, tracked by the session for a write: 404 when there is none,
    403 when ``owner`` did not write it."""
    article = await db.scalar(ARTICLE_BY_SLUG, {"slug": slug})
    if article is None:
        raise not_found("article")
    if owner is not None and article.author_id != owner.id:
        raise forbidden("article")
    return article


def slugify(title: str) -> str:
    """``"How to train your dragon"`` → ``"how-to-train-your-dragon"`` (ASCII, lower case)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:200].rstrip("-") or "article"


async def unique_slug(db: AsyncSession, title: str, *, keep: int | None = None) -> str:
    """The title's slug, with ``-2``, ``-3``… when another article has it (``keep`` is the
    article being renamed, whose own slug does not count)."""
    base = slugify(title)
    query = select(Article.slug).where((Article.slug == base) | Article.slug.like(f"{base}-%"))
    if keep is not None:
        query = query.where(Article.id != keep)
    used = set(await db.scalars(query))
    slug, number = base, 2
    while slug in used:
        slug, number = f"{base}-{number}", number + 1
    return slug


async def set_tags(db: AsyncSession, article: Article, names: list[str]) -> None:
    """Replace the article's tags (blanks and repeats dropped; shown sorted by name)."""
    wanted = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    await db.execute(delete(ArticleTag).where(ArticleTag.article_id == article.id))
    if not wanted:
        return
    existing = await db.execute(select(Tag.name, Tag.id).where(Tag.name.in_(wanted)))
    known: dict[str, int] = dict(existing.all())
    for name in wanted:
        if name not in known:
            tag = Tag(name=name)
            db.add(tag)
            await db.flush()
            known[name] = tag.id
    db.add_all(ArticleTag(article_id=article.id, tag_id=known[name]) for name in wanted)
    await db.flush()
