"""Test isolation by rollback, and factories for building rows.

Each test runs inside one outer transaction that is rolled back at its end; sessions the app
opens meanwhile join it through savepoints, so their commits are real to the code under test
and gone afterwards. Faster than recreating tables, and it works the same on SQLite and
PostgreSQL.

    with TestClient(app) as client, isolated_sync(client, database):
        client.post("/books", json=...)        # committed inside the test's transaction
    # rolled back here
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from bastion.db.plugin import SQLAlchemyPlugin
    from bastion.testing import TestClient

T = TypeVar("T")


@asynccontextmanager
async def isolated(plugin: SQLAlchemyPlugin) -> AsyncIterator[AsyncSession]:
    """Run the block in a transaction that is rolled back; yields a session inside it."""
    if plugin.engine is None or plugin.sessions is None:
        raise RuntimeError("Start the app (its lifespan) before isolating a test")
    original = plugin.sessions
    async with plugin.engine.connect() as connection:
        transaction = await connection.begin()
        plugin.sessions = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            async with plugin.sessions() as session:
                yield session
        finally:
            plugin.sessions = original
            await transaction.rollback()


@contextmanager
def isolated_sync(client: TestClient, plugin: SQLAlchemyPlugin) -> Iterator[None]:
    """``isolated`` for a synchronous ``TestClient``: the transaction lives on the client's
    event loop, where the app runs."""
    manager = isolated(plugin)
    client.portal.call(manager.__aenter__())
    try:
        yield
    finally:
        client.portal.call(manager.__aexit__(None, None, None))


class Factory(Generic[T]):
    """``Factory(Book, title=lambda n: f"Book {n}", year=2000)``: defaults may be callables
    of a sequence number, so unique columns get unique values."""

    def __init__(self, model: type[T], **defaults: Any) -> None:
        self.model = model
        self.defaults = defaults
        self._numbers = itertools.count(1)

    def build(self, **overrides: Any) -> T:
        number = next(self._numbers)
        values = {k: (v(number) if callable(v) else v) for k, v in self.defaults.items()}
        values.update(overrides)
        return self.model(**values)

    async def create(self, session: AsyncSession, **overrides: Any) -> T:
        row = self.build(**overrides)
        session.add(row)
        await session.flush()
        return row
