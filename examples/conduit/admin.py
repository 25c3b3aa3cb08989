"""Conduit's admin at /admin: users, articles (with their comments inline), tags and
comments, for staff (the seed makes one: ``admin`` / ``admin-demo-password``).

    App(plugins=[database, ..., conduit_admin()])
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bastion.admin import Admin, Inline, action

from .models import Article, Comment, Tag, User, utcnow
from .routes.articles import unique_slug

#: The staff account the seed creates (README's quickstart names it).
STAFF_USERNAME = "admin"
STAFF_PASSWORD = "admin-demo-password"


@action("Regenerate the slug from the title")
async def reslug(db: AsyncSession, articles: list[Article]) -> str:
    for article in articles:
        article.slug = await unique_slug(db, article.title, keep=article.id)
        article.updated_at = utcnow()
    return f"New slugs for {len(articles)} article(s)."


def conduit_admin(**options: Any) -> Admin:
    admin = Admin(user_model=User, title="Conduit admin", **options)
    admin.register(
        User,
        list_display=["username", "email", "created_at"],
        search=["username", "email"],
        filters=["created_at"],
        ordering=["username"],
        fields=["username", "email", "bio", "image", "created_at"],
        readonly=["created_at"],
        display="username",
    )
    admin.register(
        Article,
        list_display=["title", "author", "slug", "created_at"],
        search=["title", "description", "body"],
        filters=["author", "created_at"],
        ordering=["-created_at"],
        fields=["title", "slug", "description", "body", "author_id", "created_at"],
        readonly=["created_at"],
        actions=[reslug],
        inlines=[Inline(Comment, fk="article_id", fields=["body", "created_at"])],
        display="title",
    )
    admin.register(Tag, list_display=["name"], search=["name"], ordering=["name"])
    admin.register(
        Comment,
        list_display=["body", "article", "author", "created_at"],
        search=["body"],
        filters=["author", "created_at"],
        ordering=["-created_at"],
        fields=["body", "article_id", "author_id"],
    )
    return admin
