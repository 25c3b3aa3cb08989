"""Request and response bodies, exactly as the RealWorld spec spells them.

Every body is wrapped in an object named after the resource (``{"user": {...}}``); field
names are camelCase on the wire (``tagList``, ``createdAt``) and snake_case in Python. Update
bodies use ``UNSET`` for "not sent", so ``"bio": null`` (clear it) differs from leaving it out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

Name = Annotated[str, msgspec.Meta(max_length=100)]
Email = Annotated[str, msgspec.Meta(max_length=254)]
Password = Annotated[str, msgspec.Meta(max_length=1024)]
Title = Annotated[str, msgspec.Meta(max_length=255)]
Image = Annotated[str, msgspec.Meta(max_length=1000)]
TagName = Annotated[str, msgspec.Meta(max_length=100)]
Timestamp = Annotated[
    str,
    msgspec.Meta(extra_json_schema={"format": "date-time"}, examples=["2026-11-23T10:00:00.000Z"]),
]


class Wire(msgspec.Struct, rename="camel"):
    """camelCase on the wire."""


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as the spec shows: 2026-11-23T10:00:00.000Z.
    SQLite hands back naive datetimes; they were stored in UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- users -----------------------------------------------------------------------------------
class NewUser(Wire):
    username: Name
    email: Email
    password: Password


class NewUserRequest(Wire):
    user: NewUser


class LoginUser(Wire):
    email: Email
    password: Password


class LoginRequest(Wire):
    user: LoginUser


class UserChanges(Wire):
    email: Email | UnsetType = UNSET
    username: Name | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    bio: str | None | UnsetType = UNSET
    image: Image | None | UnsetType = UNSET


class UpdateUserRequest(Wire):
    user: UserChanges


class UserOut(Wire):
    email: str
    token: str
    username: str
    bio: str | None
    image: str | None


class UserResponse(Wire):
    user: UserOut


# -- profiles --------------------------------------------------------------------------------
class Profile(Wire):
    username: str
    bio: str | None
    image: str | None
    following: bool


class ProfileResponse(Wire):
    profile: Profile


# -- articles --------------------------------------------------------------------------------
class NewArticle(Wire):
    title: Title
    description: str
    body: str
    tag_list: list[TagName] | None = None


class NewArticleRequest(Wire):
    article: NewArticle


class ArticleChanges(Wire):
    title: Title | UnsetType = UNSET
    description: str | UnsetType = UNSET
    body: str | UnsetType = UNSET
    tag_list: list[TagName] | UnsetType = UNSET


class UpdateArticleRequest(Wire):
    article: ArticleChanges


class ArticleSummary(Wire):
    """An article in a list: everything but the body."""

    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    favorited: bool
    favorites_count: int
    author: Profile


class ArticleOut(ArticleSummary):
    body: str


class ArticleResponse(Wire):
    article: ArticleOut


class ArticleList(Wire):
    articles: list[ArticleSummary]
    #: Every article matching the filters, not just this page.
    articles_count: int


# -- comments --------------------------------------------------------------------------------
class NewComment(Wire):
    body: str


class NewCommentRequest(Wire):
    comment: NewComment


class CommentOut(Wire):
    id: int
    created_at: Timestamp
    updated_at: Timestamp
    body: str
    author: Profile


class CommentResponse(Wire):
    comment: CommentOut


class CommentList(Wire):
    comments: list[CommentOut]


# -- tags ------------------------------------------------------------------------------------
class TagList(Wire):
    tags: list[str]
