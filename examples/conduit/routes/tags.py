"""The tags in use, most used first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Router
from bastion.db import Prepared

from ..caching import TAGS, cached
from ..models import ArticleTag, Tag
from ..schemas import TagList

router = Router(tags=["tags"])
#: Tags that at least one article carries (a tag whose articles were all deleted is gone).
TAGS_IN_USE = Prepared(
    select(Tag.name)
    .join(ArticleTag, ArticleTag.tag_id == Tag.id)
    .group_by(Tag.id, Tag.name)
    .order_by(func.count(ArticleTag.article_id).desc(), Tag.name)
)


@router.get("/tags", middleware=[cached(TAGS)])
async def tags(db: AsyncSession) -> TagList:
    return TagList(await TAGS_IN_USE.scalars(db))
