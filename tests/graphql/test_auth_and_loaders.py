"""Auth guards and policies as permission classes; a DataLoader per request from the context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import pytest
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from bastion import App, Request, Settings
from bastion.auth import AuthPlugin, Identity, JWTAuth, Policy, policy
from bastion.exceptions import ConfigurationError
from bastion.graphql import Context, GraphQL, IsAuthenticated, allowed, requires
from bastion.testing import TestClient

SECRET = "test-secret-key-with-at-least-32-characters"
tokens = JWTAuth(secret=SECRET)

#: Every batch the loader ran, across requests: one per request proves batching and isolation.
BATCHES: list[list[int]] = []
AUTHORS = {1: "Ada", 2: "Grace", 3: "Edsger"}


async def load_authors(keys: list[int]) -> list[str]:
    BATCHES.append(list(keys))
    return [AUTHORS[k] for k in keys]


@dataclass
class AppContext(Context):
    authors: DataLoader[int, str]


async def make_context(request: Request) -> AppContext:
    return AppContext(request, DataLoader(load_fn=load_authors))


class Draft:
    def __init__(self, owner: str) -> None:
        self.owner = owner


@policy(Draft)
class DraftPolicy(Policy):
    def read(self, user: Any, draft: Draft) -> bool:
        return bool(user.subject == draft.owner)


@strawberry.type
class Article:
    id: int
    author_id: strawberry.Private[int]
    owner: strawberry.Private[str]

    @strawberry.field
    async def author(self, info: Info[AppContext, None]) -> str:
        return await info.context.authors.load(self.author_id)

    @strawberry.field(permission_classes=[allowed("read")])
    def notes(self) -> str | None:
        return f"notes of {self.id}"


# The policy looks at the object the field belongs to: an Article is a kind of Draft here.
policy_source = type("PolicyArticle", (Article, Draft), {})


def article(id: int, author_id: int, owner: str) -> Article:
    made = policy_source.__new__(policy_source)
    made.id, made.author_id, made.owner = id, author_id, owner
    return made  # type: ignore[no-any-return]


@strawberry.type
class Query:
    @strawberry.field
    def articles(self) -> list[Article]:
        return [article(1, 1, "1"), article(2, 2, "2"), article(3, 1, "1"), article(4, 3, "3")]

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def me(self, info: Info[AppContext, None]) -> str:
        user = await info.context.user()
        return str(user.subject)

    @strawberry.field(permission_classes=[requires("admin")])
    def audit(self) -> str:
        return "audit log"

    @strawberry.field(permission_classes=[requires(scopes=["reports:read"])])
    def reports(self) -> str:
        return "reports"


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[IsAuthenticated])
    async def whoami(self, info: Info[AppContext, None]) -> AsyncGenerator[str, None]:
        user = await info.context.user()
        yield str(user.subject)


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.encode({'sub': '1', **claims})}"}


@pytest.fixture
def client() -> Any:
    schema = strawberry.Schema(query=Query, subscription=Subscription)
    app = App(
        settings=Settings(debug=False),
        plugins=[AuthPlugin(tokens), GraphQL(schema, context=make_context)],
    )
    with TestClient(app) as client:
        yield client


def test_one_batch_per_request_and_no_cache_shared_between_requests(client: TestClient) -> None:
    BATCHES.clear()
    query = {"query": "{ articles { id author } }"}
    first = client.post("/graphql", json=query).json()
    assert [a["author"] for a in first["data"]["articles"]] == ["Ada", "Grace", "Ada", "Edsger"]
    client.post("/graphql", json=query)
    assert BATCHES == [[1, 2, 3], [1, 2, 3]]


def test_anonymous_is_refused_with_401(client: TestClient) -> None:
    doc = client.post("/graphql", json={"query": "{ me }"}).json()
    assert doc["data"] is None
    assert doc["errors"][0]["message"] == "Authentication required"
    assert doc["errors"][0]["extensions"] == {"status": 401}


def test_signed_in_user_reaches_the_resolver(client: TestClient) -> None:
    doc = client.post("/graphql", json={"query": "{ me }"}, headers=bearer()).json()
    assert doc == {"data": {"me": "1"}}


def test_roles_and_scopes(client: TestClient) -> None:
    def ask(field: str, **claims: Any) -> dict[str, Any]:
        headers = bearer(**claims)
        result: dict[str, Any] = client.post(
            "/graphql", json={"query": f"{{ {field} }}"}, headers=headers
        ).json()
        return result

    assert ask("audit", roles=["editor"])["errors"][0]["extensions"] == {"status": 403}
    assert ask("audit", roles=["admin"]) == {"data": {"audit": "audit log"}}
    assert ask("reports", scope="reports:read") == {"data": {"reports": "reports"}}
    assert "errors" in ask("reports", scope="other")


def test_policy_decides_per_object(client: TestClient) -> None:
    doc = client.post(
        "/graphql", json={"query": "{ articles { id notes } }"}, headers=bearer(sub="1")
    ).json()
    notes = [a["notes"] for a in doc["data"]["articles"]]
    assert notes == ["notes of 1", None, "notes of 3", None]
    refused = {tuple(e["path"]) for e in doc["errors"]}
    assert refused == {("articles", 1, "notes"), ("articles", 3, "notes")}


def test_permissions_without_auth_plugin_fail_at_start_up() -> None:
    schema = strawberry.Schema(query=Query)
    app = App(settings=Settings(debug=False), plugins=[GraphQL(schema, context=make_context)])
    with pytest.raises(ConfigurationError, match=r"add plugins=\[AuthPlugin"):
        asyncio.run(app.startup())


def test_requires_needs_something_to_require() -> None:
    with pytest.raises(ConfigurationError, match="IsAuthenticated"):
        requires()


def test_loader_batches_concurrent_loads() -> None:
    async def main() -> list[str]:
        loader = DataLoader(load_fn=load_authors)
        return list(await asyncio.gather(loader.load(1), loader.load(2)))

    BATCHES.clear()
    assert asyncio.run(main()) == ["Ada", "Grace"]
    assert BATCHES == [[1, 2]]


def whoami(client: TestClient, init: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    with client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"], headers=headers
    ) as ws:
        ws.send_json({"type": "connection_init", "payload": init})
        assert ws.receive_json() == {"type": "connection_ack"}
        ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": "subscription { whoami }"}}
        )
        return ws.receive_json()


def test_a_token_in_connection_init_authenticates_the_socket(client: TestClient) -> None:
    token = bearer(sub="7")["Authorization"]
    message = whoami(client, {"Authorization": token})
    assert message == {"id": "1", "type": "next", "payload": {"data": {"whoami": "7"}}}


def test_the_handshake_header_wins_over_connection_init(client: TestClient) -> None:
    message = whoami(client, {"Authorization": bearer(sub="7")["Authorization"]}, bearer(sub="8"))
    assert message["payload"] == {"data": {"whoami": "8"}}


def test_an_anonymous_socket_is_refused_by_the_permission(client: TestClient) -> None:
    message = whoami(client, {})
    assert message["type"] == "error"
    assert message["payload"][0]["message"] == "Authentication required"
    assert message["payload"][0]["extensions"] == {"status": 401}


def test_a_socket_authenticates_once_for_all_its_operations() -> None:
    loads: list[str] = []

    async def load_user(identity: Identity) -> Identity:
        loads.append(identity.subject)
        return identity

    schema = strawberry.Schema(query=Query, subscription=Subscription)
    app = App(
        settings=Settings(debug=False),
        plugins=[AuthPlugin(tokens, load_user=load_user), GraphQL(schema, context=make_context)],
    )
    with TestClient(app) as client, client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        ws.send_json({"type": "connection_init", "payload": bearer(sub="7")})
        assert ws.receive_json() == {"type": "connection_ack"}
        for op in ("1", "2", "3"):
            ws.send_json({"id": op, "type": "subscribe", "payload": {"query": "{ me }"}})
            assert ws.receive_json()["payload"] == {"data": {"me": "7"}}
            assert ws.receive_json() == {"id": op, "type": "complete"}
    assert loads == ["7"]
