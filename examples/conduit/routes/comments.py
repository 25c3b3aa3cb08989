"""Comments on an article: list, add, and delete your own."""

from __future__ import annotations

from typing import Annotated

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Path, Router
from bastion.notifications import notify

from .. import views
from ..auth import MaybeReader, Viewer, Writer
from ..errors import BODY_ERRORS, documented, forbidden, not_found
from ..models import Comment
from ..notifications import ArticleCommented
from ..schemas import CommentList, CommentResponse, NewCommentRequest
from .articles import find as find_article

router = Router("/articles/{slug}/comments", tags=["comments"])
#: Ids are 32-bit on PostgreSQL: a larger one is bad input (422), not a driver error.
CommentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/", responses=documented(400, 401, 404, 422))
async def list_comments(slug: str, db: AsyncSession, reader: MaybeReader) -> CommentList:
    """Newest first."""
    return await views.comments(db, reader, slug)


@router.post("/", status_code=200, responses=documented(*BODY_ERRORS, 401, 404))
async def add(
    slug: str, body: NewCommentRequest, db: AsyncSession, writer: Writer
) -> CommentResponse:
    article, commenter = await views.comment_target(db, writer, slug)
    comment = await views.add_comment(db, article, commenter, writer, body.comment.body)
    if article.author_id != writer:  # stored with the comment; pushed once it commits
        await notify(article.author, ArticleCommented(article, comment))
    return CommentResponse(comment)


@router.delete("/{comment_id}", responses=documented(400, 401, 403, 404, 422))
async def remove(slug: str, comment_id: CommentId, db: AsyncSession, viewer: Viewer) -> None:
    """204; only the comment's author may delete it."""
    article = await find_article(db, slug)
    comment = await db.scalar(
        select(Comment).where(Comment.id == comment_id, Comment.article_id == article.id)
    )
    if comment is None:
        raise not_found("comment")
    if comment.author_id != viewer.id:
        raise forbidden("comment")
    await db.delete(comment)
