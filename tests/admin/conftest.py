"""A small shop for the admin's HTTP tests, on SQLite and PostgreSQL: authors, posts (a
foreign key, a boolean, an enum, a date) and their notes; a superuser, a viewer who may only look at articles,
and a user with no grant at all. Each test gets a fresh database."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, MetaData, String, Text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bastion import App, Settings
from bastion.admin import Admin, Inline, action, grant
from bastion.admin._schema import metadata as admin_metadata
from bastion.auth import PasswordHasher
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient

PASSWORD = "a long enough password"
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Base(DeclarativeBase):
    metadata = MetaData()


class Status(enum.Enum):
    draft = "Draft"
    published = "Published"


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[Status] = mapped_column(Enum(Status), default=Status.draft)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    labels: Mapped[list[Label]] = relationship(secondary="post_labels")


post_labels = sa.Table(
    "post_labels",
    Base.metadata,
    sa.Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("label_id", ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True),
)


class Label(Base):
    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))


@action("Mark as featured")
async def feature(db: Any, rows: list[Post]) -> str:
    for row in rows:
        row.featured = True
    return f"Featured {len(rows)} posts."


def make_admin() -> Admin:
    admin = Admin(user_model=Person, hasher=HASHER)
    admin.register(Author, search=["name"])
    admin.register(
        Post,
        list_display=["title", "author", "featured", "status", "created_at"],
        search=["title", "body"],
        filters=["featured", "status", "created_at", "author"],
        ordering=["-created_at"],
        readonly=["created_at"],
        actions=[feature],
        inlines=[Inline(Note, fk="post_id")],
        per_page=5,
    )
    admin.register(Note)
    admin.register(Label)
    return admin


def build(url: str) -> App[Any]:
    return App(
        settings=Settings(profile="test"),
        plugins=[SQLAlchemyPlugin(url, metadata=Base.metadata), make_admin()],
    )


async def create_tables(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for metadata in (Base.metadata, admin_metadata):
                await connection.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


async def populate(app: App[Any]) -> None:
    database = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))
    async with database.sessions() as db, db.begin():
        password_hash = await HASHER.hash(PASSWORD)
        people = [
            Person(username=n, email=f"{n}@example.com", password_hash=password_hash)
            for n in ("root", "viewer", "nobody")
        ]
        db.add_all(people)
        ada, bob = Author(name="Ada"), Author(name="Bob")
        db.add_all([ada, bob, Label(name="news"), Label(name="howto")])
        await db.flush()
        await grant(db, people[0], "*")
        await grant(db, people[1], "post.view", "author.view")
        now = datetime.now(UTC)
        for i in range(12):
            db.add(
                Post(
                    title=f"Post {i:02d}" + (" 100% _done_" if i == 3 else ""),
                    body="about cats" if i % 2 else "about dogs",
                    featured=i % 3 == 0,
                    status=Status.published if i % 4 == 0 else Status.draft,
                    created_at=now - timedelta(days=i * 10),
                    author_id=(ada if i % 2 else bob).id,
                )
            )
        await db.flush()
        first = await db.scalar(sa.select(Post).where(Post.title == "Post 00"))
        db.add_all(
            [Note(text="first note", post_id=first.id), Note(text="second", post_id=first.id)]
        )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def app(database_url: str) -> Iterator[App[Any]]:
    yield build(database_url)


@pytest.fixture
def client(app: App[Any], database_url: str) -> Iterator[TestClient]:
    with TestClient(app) as client:
        client.portal.call(create_tables(database_url))
        client.portal.call(populate(app))
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="_admin_csrf" value="([^"]+)"', html)
    assert found, "no admin CSRF input on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str = "root") -> str:
    """Sign in through the login page; the CSRF token of the new session."""
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"_admin_csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/admin").text)
