
import pytest
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion.db.testing import Factory, isolated_sync
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Base(DeclarativeBase):
    pass


class Member(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)


members = Factory(Member, email=lambda n: f"user{n}@example.com")


@pytest.fixture
def setup(database_url):
    app, plugin = app_with_tables(database_url, Base.metadata)

    @app.post("/members/{email}")
    async def join(email: str, db: AsyncSession) -> int:
        db.add(Member(email=email))
        await db.flush()
        return 1

    @app.get("/members/count")
    async def count(db: AsyncSession) -> int:
        return int(await db.scalar(select(func.count()).select_from(Member)) or 0)

    @app.post("/members/generated")
    async def generated(db: AsyncSession) -> str:
        return (await members.create(db)).email

    with TestClient(app) as client:
        yield client, plugin


def test_each_block_is_rolled_back(setup):
    client, plugin = setup
    for _ in range(2):  # the same unique email twice: possible only if each block rolls back
        with isolated_sync(client, plugin):
            assert client.post("/members/ada@example.com").status_code == 201
            assert client.get("/members/count").json() == 1
    assert client.get("/members/count").json() == 0


def test_factory_gives_unique_values(setup):
    client, plugin = setup
    with isolated_sync(client, plugin):
        first = client.post("/members/generated").text
        second = client.post("/members/generated").text
        assert first != second
        assert client.get("/members/count").json() == 2
