"""The tags in use, most used first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Router

from ..caching import TAGS, cached
from ..models import ArticleTag, Tag
from ..schemas import TagList

router = Router(tags=["tags"])


@router.get("/tags", middleware=[cached(TAGS)])
async def tags(db: AsyncSession) -> TagList:
    """Tags that at least one article carries (a tag whose articles were all deleted is gone)."""
    uses = func.count(ArticleTag.article_id)
    query = (
        select(Tag.name)
        .join(ArticleTag, ArticleTag.tag_id == Tag.id)
        .group_by(Tag.id, Tag.name)
        .order_by(uses.desc(), Tag.name)
    )
    return TagList(list(await db.scalars(query)))
