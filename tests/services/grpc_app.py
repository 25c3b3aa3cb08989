"""The app the gRPC tests serve: an Inventory service beside HTTP routes, sharing a SQLite
database session, JWT authentication and observability.

``make_app(...)`` builds one per test; ``app`` (made on first access) is what
``bastion serve tests.services.grpc_app:app`` serves, configured from BASTION_* variables.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Depends, NotFound, Settings
from bastion.auth import AuthPlugin, CurrentUser, JWTAuth, requires
from bastion.auth.apikeys import APIKey, APIKeyAuth
from bastion.db import SQLAlchemyPlugin
from bastion.observability import HealthCheck, ObservabilityPlugin
from bastion.services.grpc import GRPC
from tests.services._grpc_protos import generated

pb2, pb2_grpc = generated()

SECRET = "grpc-test-secret-key-with-32-characters-at-least"
tokens = JWTAuth(secret=SECRET)
metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
)


class NewItem(msgspec.Struct):
    """What CreateItem accepts: the message, checked."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    quantity: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    tags: list[Annotated[str, msgspec.Meta(max_length=20)]] = []


class Probe:
    """What the tests watch from the server side: cancellations and teardowns seen."""

    def __init__(self) -> None:
        self.cancelled: dict[str, asyncio.Event] = {}
        self.torn_down: list[str] = []
        self.ready = True

    def event(self, name: str) -> asyncio.Event:
        return self.cancelled.setdefault(name, asyncio.Event())


probe = Probe()


async def tracked() -> AsyncIterator[str]:
    """A request-scoped dependency with teardown, so tests see it run after cancellation."""
    try:
        yield "tracked"
    finally:
        probe.torn_down.append("tracked")


Tracked = Annotated[str, Depends(tracked)]
Writer = Annotated[Any, requires(scopes=["items:write"])]


def reply(row: Any) -> Any:
    return pb2.Item(id=row.id, name=row.name, quantity=row.quantity)


class Inventory(pb2_grpc.InventoryServicer):  # type: ignore[misc]
    async def GetItem(self, request: Any, context: Any, db: AsyncSession, user: CurrentUser) -> Any:
        if request.id == 500:
            raise RuntimeError("database password is hunter2")  # never shown to the client
        row = (await db.execute(sa.select(items).where(items.c.id == request.id))).first()
        if row is None:
            raise NotFound(f"No item {request.id}")
        return reply(row)

    async def CreateItem(
        self, request: NewItem, context: Any, db: AsyncSession, user: Writer
    ) -> Any:
        result = await db.execute(
            sa.insert(items).values(name=request.name, quantity=request.quantity)
        )
        return pb2.Item(
            id=result.inserted_primary_key[0],
            name=request.name,
            quantity=request.quantity,
            tags=request.tags,
        )

    async def WatchItems(self, request: Any, context: Any, marker: Tracked) -> AsyncIterator[Any]:
        interval = request.interval_seconds or 0.05
        number = 0
        try:
            while True:
                number += 1
                yield pb2.Item(id=number, name=f"tick {number}")
                await asyncio.sleep(interval)
        except asyncio.CancelledError:
            probe.event("WatchItems").set()
            raise

    async def ImportItems(self, request_iterator: Any, context: Any, db: AsyncSession) -> Any:
        count = 0
        async for message in request_iterator:
            await db.execute(sa.insert(items).values(name=message.name, quantity=message.quantity))
            count += 1
        return pb2.ImportSummary(count=count)

    async def Tally(
        self, request_iterator: Any, context: Any, marker: Tracked
    ) -> AsyncIterator[Any]:
        count = 0
        async for _ in request_iterator:
            count += 1
            yield pb2.ImportSummary(count=count)

    async def Wait(self, request: Any, context: Any, marker: Tracked) -> Any:
        try:
            await asyncio.sleep(request.seconds)
        except asyncio.CancelledError:
            probe.event("Wait").set()
            raise
        return pb2.Item(name="waited")

    async def WhoAmI(self, request: Any, context: Any, user: CurrentUser) -> Any:
        scopes = sorted(user.scopes or ())
        return pb2.Caller(subject=user.subject, scopes=scopes)


async def readiness() -> bool:
    return probe.ready


def create_all(connection: Any) -> None:
    """The test's table and the API keys' one."""
    metadata.create_all(connection)
    APIKey.__table__.create(connection, checkfirst=True)


def make_app(
    database_url: str | None = None,
    *,
    port: int | None = 0,
    settings: Settings | None = None,
    **observability: Any,
) -> App[Any]:
    database = SQLAlchemyPlugin(database_url, metadata=metadata)
    observability.setdefault("logs", None)  # pytest's log capture stays as it is
    api_keys = APIKeyAuth(database)
    app = App(
        settings=settings or Settings(profile="test"),
        plugins=[
            database,
            AuthPlugin(tokens, api_keys),
            ObservabilityPlugin(checks=[HealthCheck("inventory", readiness)], **observability),
            GRPC(Inventory(), port=port, health_interval=0.05),
        ],
    )

    @app.get("/items/{item_id}")
    async def http_item(item_id: int, db: AsyncSession) -> dict[str, Any]:
        row = (await db.execute(sa.select(items).where(items.c.id == item_id))).first()
        if row is None:
            raise NotFound(f"No item {item_id}")
        return {"id": row.id, "name": row.name, "quantity": row.quantity}

    async def create_tables() -> AsyncIterator[None]:
        engine = database.engine
        assert engine is not None
        async with engine.begin() as connection:
            await connection.run_sync(create_all)
        yield

    app.state.api_keys = api_keys  # type: ignore[attr-defined]
    # Tables made once the database is started, before the gRPC server (the last plugin).
    tables = contextlib.asynccontextmanager(create_tables)
    app.lifespan_contexts.insert(len(app.lifespan_contexts) - 1, lambda app: tables())
    return app


def __getattr__(name: str) -> Any:
    """``app`` for ``bastion serve``: made on first access, from the environment."""
    if name == "app":
        made = make_app(port=None, settings=Settings.load(), logs="auto")
        globals()["app"] = made
        return made
    raise AttributeError(name)
