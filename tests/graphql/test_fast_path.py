"""A query text served before runs straight on graphql-core's executor (bastion/graphql/_fast.py):
the same answers, refusals and errors as the first time, and never for a schema whose own
extensions must see every request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from bastion import App, Forbidden, Settings
from bastion.graphql import Context, GraphQL
from bastion.testing import TestClient


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"Hello, {name}!"

    @strawberry.field
    async def path(self, info: Info[Context, None]) -> str:
        return info.context.request.path

    @strawberry.field
    def broken(self) -> str | None:
        raise KeyError("secret internal detail")

    @strawberry.field
    def refused(self) -> str | None:
        raise Forbidden("not for you")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def shout(self, text: str) -> str:
        return text.upper()


def build(schema: strawberry.Schema, **options: Any) -> tuple[App[Any], GraphQL]:
    plugin = GraphQL(schema, **options)
    return App(settings=Settings(profile="test"), plugins=[plugin]), plugin


@pytest.fixture
def served() -> Iterator[tuple[TestClient, GraphQL]]:
    app, plugin = build(strawberry.Schema(query=Query, mutation=Mutation))
    with TestClient(app) as client:
        yield client, plugin


def twice(client: TestClient, method: str = "POST", **kwargs: Any) -> list[Any]:
    """The same request sent twice (the whole path, then the known document)."""
    return [client.request(method, "/graphql", **kwargs) for _ in range(2)]


def test_a_repeated_query_is_answered_the_same_from_the_known_document(served):
    client, plugin = served
    query = '{ hello(name: "Ada") path }'
    first, second = twice(client, json={"query": query})
    assert first.json() == second.json() == {"data": {"hello": "Hello, Ada!", "path": "/graphql"}}
    assert query in plugin.plans.documents


def test_variables_operation_names_and_their_errors(served):
    client, _ = served
    query = "query A($n: String!) { hello(name: $n) } query B { hello }"
    for name, variables, expected in [("A", {"n": "Bo"}, "Hello, Bo!"), ("B", None, "Hello, world!")]:
        answers = twice(client, json={"query": query, "operationName": name, "variables": variables})
        assert [a.json() for a in answers] == [{"data": {"hello": expected}}] * 2
    for response in twice(client, json={"query": query, "operationName": "A", "variables": {"n": 3}}):
        assert response.json()["errors"][0]["message"].startswith("Variable '$n'")
        assert "data" not in response.json()
    for response in twice(client, json={"query": query, "operationName": "C"}):
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "body.operationName"


def test_a_mutation_over_get_and_errors_are_refused_the_second_time_too(served):
    client, _ = served
    mutation = 'mutation { shout(text: "hi") }'
    assert [r.json() for r in twice(client, json={"query": mutation})] == [{"data": {"shout": "HI"}}] * 2
    for response in twice(client, "GET", params={"query": mutation}):
        assert response.status_code == 405
    for response in twice(client, json={"query": "{ broken refused }"}):
        assert response.json()["data"] == {"broken": None, "refused": None}
        errors = {e["path"][0]: e for e in response.json()["errors"]}
        assert errors["broken"]["message"] == "Internal server error"
        assert errors["refused"]["message"] == "not for you"
        assert errors["refused"]["extensions"]["status"] == 403


def test_a_document_that_failed_validation_is_never_kept(served):
    client, plugin = served
    for response in twice(client, json={"query": "{ nope }"}, headers={"accept": "application/graphql-response+json"}):
        assert response.status_code == 400
    assert "{ nope }" not in plugin.plans.documents


def test_the_known_documents_are_bounded():
    app, plugin = build(strawberry.Schema(query=Query), cache_size=2)
    with TestClient(app) as client:
        for name in ("a", "b", "c"):
            assert client.post("/graphql", json={"query": f'{{ hello(name: "{name}") }}'}).status_code == 200
    assert list(plugin.plans.documents) == ['{ hello(name: "b") }', '{ hello(name: "c") }']


class Seen(SchemaExtension):
    calls: list[str] = []

    def on_execute(self) -> Iterator[None]:
        Seen.calls.append(self.execution_context.query or "")
        yield


def test_a_schema_with_its_own_extensions_takes_the_whole_path_every_time():
    Seen.calls.clear()
    app, plugin = build(strawberry.Schema(query=Query, extensions=[Seen]))
    assert plugin.plans is None
    with TestClient(app) as client:
        twice(client, json={"query": "{ hello }"})
    assert Seen.calls == ["{ hello }", "{ hello }"]


def test_no_cache_no_known_documents():
    _app, plugin = build(strawberry.Schema(query=Query), cache_size=0)
    assert plugin.plans is None
