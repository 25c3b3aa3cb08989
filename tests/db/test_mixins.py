import uuid

import pytest
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion.db import UUIDPK, IntPK, SoftDelete, Timestamps
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Base(DeclarativeBase):
    pass


class Post(IntPK, Timestamps, SoftDelete, Base):
    __tablename__ = "mixin_posts"
    title: Mapped[str] = mapped_column(String(50))


class Token(UUIDPK, Base):
    __tablename__ = "mixin_tokens"
    label: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def client(database_url):
    app, _ = app_with_tables(database_url, Base.metadata)

    @app.post("/posts")
    async def create(db: AsyncSession) -> dict:
        post = Post(title="hello")
        db.add(post)
        await db.flush()
        await db.refresh(post)
        return {"id": post.id, "created": post.created_at is not None}

    @app.post("/posts/quick")
    async def quick(db: AsyncSession) -> list[str]:
        """Known right after the flush, no refresh; distinct within one second."""
        first, second = Post(title="one"), Post(title="two")
        db.add(first)
        await db.flush()
        db.add(second)
        await db.flush()
        created = (first.created_at, second.created_at)
        assert (first.updated_at, second.updated_at) == created  # one reading per new row
        first.title = "one, edited"
        await db.flush()
        assert first.updated_at > first.created_at
        stored = [p.created_at for p in await db.scalars(select(Post).order_by(Post.id))]
        assert stored[-2:] == list(created) and created[0] < created[1]
        return [c.isoformat() for c in created]

    @app.delete("/posts/{post_id}")
    async def remove(post_id: int, db: AsyncSession) -> None:
        (await db.get(Post, post_id)).soft_delete()

    @app.get("/posts/{post_id}/times")
    async def times(post_id: int, db: AsyncSession) -> list[str | None]:
        post = await db.get(Post, post_id)
        return [post.created_at.isoformat(), post.updated_at.isoformat(),
                post.deleted_at and post.deleted_at.isoformat()]

    @app.get("/posts")
    async def visible(db: AsyncSession) -> list[int]:
        return list(await db.scalars(select(Post.id).where(Post.not_deleted())))

    @app.post("/tokens")
    async def token(db: AsyncSession) -> str:
        row = Token(label="api")
        db.add(row)
        await db.flush()
        return str(row.id)

    with TestClient(app) as test_client:
        yield test_client


def test_timestamps_are_set_by_the_app_to_the_microsecond(client):
    response = client.post("/posts/quick")
    assert response.status_code == 201, response.text


def test_int_pk_timestamps_and_soft_delete(client):
    assert client.post("/posts").json() == {"id": 1, "created": True}
    client.post("/posts")
    assert client.delete("/posts/1").status_code == 204
    assert client.get("/posts").json() == [2]


def test_uuid_primary_key(client):
    value = client.post("/tokens").text
    assert uuid.UUID(value).version == 4


def test_timestamps_read_back_are_in_utc_as_written(client):
    """SQLite keeps no time zone: a row read in a later request showed naive times, so its
    JSON (and its ETag) differed from the same row as written."""
    written = client.post("/posts/quick").json()
    assert written[0].endswith("+00:00")
    client.delete("/posts/1")
    created, updated, deleted = client.get("/posts/1/times").json()
    assert created == written[0]
    assert updated.endswith("+00:00") and deleted.endswith("+00:00")
