"""A context that takes a database session, over the WebSocket: built per operation, on
SQLite and on a real PostgreSQL. A mutation sent over the socket is committed; idle
subscribers hold neither a pooled connection nor a place in the pool's queue, so HTTP
requests needing the database are not starved; and a subscription gives back what its
resolver took after each event."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from strawberry.types import Info

from bastion import App, Request, Settings
from bastion.db import SQLAlchemyPlugin
from bastion.graphql import Context, GraphQL, events
from bastion.testing import TestClient
from bastion.testing.websocket import WebSocketSession
from bastion.websockets.pubsub import PubSub, PubSubPlugin

PROTOCOL = ["graphql-transport-ws"]


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "gql_socket_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


@dataclass
class DbContext(Context):
    db: AsyncSession
    pubsub: PubSub


async def db_context(request: Request, db: AsyncSession, pubsub: PubSub) -> DbContext:
    return DbContext(request, db, pubsub)


async def count_notes(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Note)) or 0)


@strawberry.type
class Query:
    @strawberry.field
    async def notes(self, info: Info[DbContext, None]) -> int:
        return await count_notes(info.context.db)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def add_note(self, info: Info[DbContext, None], text: str) -> int:
        note = Note(text=text)
        info.context.db.add(note)
        await info.context.db.flush()
        return note.id


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def published(self, info: Info[DbContext, None]) -> AsyncGenerator[str, None]:
        async for message in events(info.context.pubsub, "notes"):
            yield str(message.payload["text"])

    @strawberry.subscription
    async def counted(self, info: Info[DbContext, None]) -> AsyncGenerator[int, None]:
        """Reads the database for every event: asks for a connection each time."""
        async for _ in events(info.context.pubsub, "notes"):
            yield await count_notes(info.context.db)


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[TestClient, Any]]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    else:
        url = str(request.getfixturevalue("fresh_postgres_url"))
    database, pubsub = SQLAlchemyPlugin(url), PubSubPlugin()

    @asynccontextmanager
    async def tables(app: App) -> Any:
        assert database.engine is not None
        async with database.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        yield

    schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
    app = App(
        settings=Settings(profile="test"),
        plugins=[database, pubsub, GraphQL(schema, context=db_context)],
    )
    app.lifespan_contexts.append(tables)
    with TestClient(app, websocket_timeout=10) as client:
        yield client, (database, pubsub)


def subscribed(ws: WebSocketSession, field: str) -> WebSocketSession:
    ws.send_json({"type": "connection_init"})
    assert ws.receive_json() == {"type": "connection_ack"}
    ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": f"subscription {{ {field} }}"}})
    ws.send_json({"type": "ping"})  # the pong proves the subscription was read
    assert ws.receive_json() == {"type": "pong"}
    return ws


def notes_over_http(client: TestClient) -> int:
    response = client.post("/graphql", json={"query": "{ notes }"})
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["notes"])


def test_a_mutation_over_the_socket_is_committed(served: tuple[TestClient, Any]) -> None:
    client, (database, _) = served
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json() == {"type": "connection_ack"}
        mutation = 'mutation { addNote(text: "over the socket") }'
        ws.send_json({"id": "m", "type": "subscribe", "payload": {"query": mutation}})
        assert ws.receive_json() == {"id": "m", "type": "next", "payload": {"data": {"addNote": 1}}}
        assert ws.receive_json() == {"id": "m", "type": "complete"}
        # Seen by another request while the socket is still open, and written after it
        # (SQLite: the socket holds no write lock).
        assert notes_over_http(client) == 1
        added = client.post("/graphql", json={"query": 'mutation { addNote(text: "http") }'})
        assert added.json() == {"data": {"addNote": 2}}
        assert database.engine.pool.checkedout() == 0
    assert notes_over_http(client) == 2


def test_idle_subscribers_do_not_starve_http_requests(served: tuple[TestClient, Any]) -> None:
    client, (database, pubsub) = served
    with ExitStack() as sockets:
        # More than the default pool (SQLite: 5 + 10 overflow; PostgreSQL: 10).
        subscribers = [
            subscribed(
                sockets.enter_context(client.websocket_connect("/graphql", subprotocols=PROTOCOL)),
                "published",
            )
            for _ in range(20)
        ]
        assert database.engine.pool.checkedout() == 0
        assert notes_over_http(client) == 0
        added = client.post("/graphql", json={"query": 'mutation { addNote(text: "a") }'})
        assert added.json() == {"data": {"addNote": 1}}
        client.portal.call(pubsub.broadcast("notes", "new", {"text": "hello"}))
        for ws in subscribers:
            assert ws.receive_json() == {
                "id": "s",
                "type": "next",
                "payload": {"data": {"published": "hello"}},
            }


def test_a_subscription_reading_per_event_gives_its_connection_back(
    served: tuple[TestClient, Any],
) -> None:
    client, (database, pubsub) = served
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        subscribed(ws, "counted")
        assert database.engine.pool.checkedout() == 0
        for expected in (1, 2):
            client.post("/graphql", json={"query": f'mutation {{ addNote(text: "{expected}") }}'})
            client.portal.call(pubsub.broadcast("notes", "new", {}))
            assert ws.receive_json()["payload"] == {"data": {"counted": expected}}
            assert database.engine.pool.checkedout() == 0
