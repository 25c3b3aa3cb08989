import uuid
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion import App, Settings
from bastion.db import UUIDPK, IntPK, SoftDelete, SQLAlchemyPlugin, Timestamps
from bastion.testing import TestClient


class Base(DeclarativeBase):
    pass


class Post(IntPK, Timestamps, SoftDelete, Base):
    __tablename__ = "mixin_posts"
    title: Mapped[str] = mapped_column(String(50))


class Token(UUIDPK, Base):
    __tablename__ = "mixin_tokens"
    label: Mapped[str] = mapped_column(String(50))


@pytest.fixture(params=["sqlite", "postgres"])
def client(request, tmp_path):
    url = (f"sqlite+aiosqlite:///{tmp_path / 'mixins.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    plugin = SQLAlchemyPlugin(url, metadata=Base.metadata)

    @asynccontextmanager
    async def tables(app):
        async with plugin.engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
            await connection.run_sync(Base.metadata.create_all)
        yield

    app = App(settings=Settings(profile="test"), plugins=[plugin])
    app.lifespan_contexts.append(tables)

    @app.post("/posts")
    async def create(db: AsyncSession) -> dict:
        post = Post(title="hello")
        db.add(post)
        await db.flush()
        await db.refresh(post)
        return {"id": post.id, "created": post.created_at is not None}

    @app.delete("/posts/{post_id}")
    async def remove(post_id: int, db: AsyncSession) -> None:
        (await db.get(Post, post_id)).soft_delete()

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


def test_int_pk_timestamps_and_soft_delete(client):
    assert client.post("/posts").json() == {"id": 1, "created": True}
    client.post("/posts")
    assert client.delete("/posts/1").status_code == 204
    assert client.get("/posts").json() == [2]


def test_uuid_primary_key(client):
    value = client.post("/tokens").text
    assert uuid.UUID(value).version == 4
