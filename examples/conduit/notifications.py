"""What Conduit tells its users: a comment on your article, in your notifications (stored)
and live on your topic ``user:<id>`` (an SSE stream or a channel socket can relay it)."""

from __future__ import annotations

from typing import Any

from bastion.notifications import Notification

from .models import Article, User
from .schemas import CommentOut


class ArticleCommented(Notification):
    """Someone commented on the recipient's article."""

    type = "article_commented"  # stored with each row: stable across renames of the class

    def __init__(self, article: Article, comment: CommentOut) -> None:
        self.article = {"slug": article.slug, "title": article.title}
        self.comment = {"id": comment.id, "body": comment.body}
        self.commenter = comment.author.username

    def via(self, author: User) -> list[str]:
        return ["database", "broadcast"]

    def to_database(self, author: User) -> dict[str, Any]:
        return {"article": self.article, "comment": self.comment, "author": self.commenter}
