"""``GraphQL(middleware=..., dependencies=...)``: on the HTTP routes as a route's options
(``Metered`` counts GraphQL requests), and the guards once per socket, at
``connection_init``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import strawberry

from bastion import App, ConfigurationError, Request, Response, Settings
from bastion.apim import APIManagement, Metered, by_api_key
from bastion.auth import AuthPlugin, JWTAuth, requires
from bastion.auth.apikeys import APIKey, APIKeyAuth
from bastion.db import Model, SQLAlchemyPlugin
from bastion.graphql import GraphQL
from bastion.testing import TestClient
from bastion.websockets import WebSocketDisconnect

SECRET = "test-secret-key-with-at-least-32-characters"


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "Hello"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def once(self) -> AsyncGenerator[int, None]:
        yield 1


def test_metered_counts_graphql_requests(tmp_path: Path) -> None:
    database = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    keys = APIKeyAuth(database)
    jwt = JWTAuth(secret=SECRET)
    graphql = GraphQL(
        strawberry.Schema(query=Query), middleware=[Metered("3/day", key=by_api_key())]
    )
    app = App(
        settings=Settings(profile="test", secret_key=SECRET),
        plugins=[database, AuthPlugin(jwt, keys), APIManagement(keys, store="memory"), graphql],
    )

    @asynccontextmanager
    async def tables(app: App[Any]) -> Any:
        assert database.engine is not None
        async with database.engine.begin() as connection:
            await connection.run_sync(Model.metadata.create_all, tables=[APIKey.__table__])
        yield

    app.lifespan_contexts.append(tables)
    alice = {"Authorization": "Bearer " + jwt.encode({"sub": "alice"})}
    with TestClient(app) as client:
        created = client.post("/developer/api/keys", json={"name": "CI"}, headers=alice)
        key = {"X-API-Key": created.json()["key"]}
        post = client.post("/graphql", json={"query": "{ hello }"}, headers=key)
        assert post.json() == {"data": {"hello": "Hello"}}
        assert post.headers["ratelimit-remaining"] == "2"
        assert client.get("/graphql", params={"query": "{ hello }"}, headers=key).status_code == 200
        assert client.post("/graphql", json={"query": "{ hello }"}, headers=key).status_code == 200
        refused = client.post("/graphql", json={"query": "{ hello }"}, headers=key)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"


def test_middleware_wraps_the_graphql_routes() -> None:
    async def stamp(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        response = await call_next(request)
        response.headers["x-endpoint"] = "graphql"
        return response

    app = App(
        settings=Settings(profile="test"),
        plugins=[GraphQL(strawberry.Schema(query=Query), middleware=[stamp])],
    )

    @app.get("/other")
    async def other() -> str:
        return "other"

    with TestClient(app) as client:
        assert client.post("/graphql", json={"query": "{ hello }"}).headers["x-endpoint"] == "graphql"
        assert client.get("/graphql?query={hello}").headers["x-endpoint"] == "graphql"
        assert "x-endpoint" not in client.get("/other").headers


@pytest.fixture
def guarded() -> Any:
    jwt = JWTAuth(secret=SECRET)
    schema = strawberry.Schema(query=Query, subscription=Subscription)
    app = App(
        settings=Settings(profile="test"),
        plugins=[AuthPlugin(jwt), GraphQL(schema, dependencies=[requires("admin")])],
    )
    with TestClient(app) as client:
        yield client, jwt


def test_dependencies_guard_the_http_routes(guarded: Any) -> None:
    client, jwt = guarded
    assert client.post("/graphql", json={"query": "{ hello }"}).status_code == 401
    editor = {"Authorization": "Bearer " + jwt.encode({"sub": "a", "roles": ["editor"]})}
    assert client.post("/graphql", json={"query": "{ hello }"}, headers=editor).status_code == 403
    admin = {"Authorization": "Bearer " + jwt.encode({"sub": "a", "roles": ["admin"]})}
    answer = client.get("/graphql", params={"query": "{ hello }"}, headers=admin)
    assert answer.json() == {"data": {"hello": "Hello"}}


def test_dependencies_guard_the_socket_at_connection_init(guarded: Any) -> None:
    client, jwt = guarded
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403
    token = "Bearer " + jwt.encode({"sub": "a", "roles": ["admin"]})
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": token}})
        assert ws.receive_json() == {"type": "connection_ack"}
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}})
        assert ws.receive_json()["payload"] == {"data": {"hello": "Hello"}}


def test_dependencies_take_depends_items() -> None:
    with pytest.raises(ConfigurationError, match="Depends"):
        GraphQL(strawberry.Schema(query=Query), dependencies=[print])  # type: ignore[list-item]
