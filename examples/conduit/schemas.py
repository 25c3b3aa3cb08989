"""Request and response bodies, exactly as the RealWorld spec spells them.

Every body is wrapped in an object named after the resource (``{"user": {...}}``); field
names are camelCase on the wire (``tagList``, ``createdAt``) and snake_case in Python. Update
bodies use ``UNSET`` for "not sent", so ``"bio": null`` (clear it) differs from leaving it out.
Every rule a field has (not blank, a longest length) is on its type here, so the check and
the OpenAPI document cannot disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

#: Something other than white space: RealWorld refuses blank fields ("can't be blank"), and
#: stating it here makes the validation and the OpenAPI document one rule (minLength 1 and this
#: pattern). msgspec runs the pattern with Python's ``re``, while a reader of the document
#: (schemathesis, a client's validator) runs it as ECMA-262, as JSON Schema says; ``\S`` means
#: something else in each (Python counts U+001C-U+001F and U+0085 as space, ECMA-262 U+FEFF), so
#: blanks are spelled out: every character either engine calls white space.
NOT_BLANK = r"[^\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


def filled(max_length: int | None = None) -> msgspec.Meta:
    return msgspec.Meta(min_length=1, max_length=max_length, pattern=NOT_BLANK)


Name = Annotated[str, filled(100)]
Email = Annotated[str, filled(254)]
Password = Annotated[str, filled(1024)]
Title = Annotated[str, filled(255)]
Text = Annotated[str, filled()]
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
    description: Text
    body: Text
    tag_list: list[TagName] | None = None


class NewArticleRequest(Wire):
    article: NewArticle


class ArticleChanges(Wire):
    title: Title | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    body: Text | UnsetType = UNSET
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
    body: Text


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
