"""Hostile documents are refused cleanly: a GraphQL error (200 or 400), never a 500 or a hang."""

from __future__ import annotations

import time

import pytest
import strawberry

from bastion import App, Settings
from bastion.exceptions import ConfigurationError
from bastion.graphql import GraphQL, Limits
from bastion.testing import TestClient


@strawberry.type
class Node:
    @strawberry.field
    def child(self) -> Node | None:
        return Node()

    @strawberry.field
    def name(self) -> str:
        return "node"


@strawberry.type
class Query:
    @strawberry.field
    def node(self) -> Node:
        return Node()


def make_client(limits: Limits | None = Limits()) -> TestClient:
    schema = strawberry.Schema(query=Query)
    app = App(settings=Settings(debug=False), plugins=[GraphQL(schema, limits=limits)])
    return TestClient(app)


@pytest.fixture
def client() -> object:
    with make_client() as client:
        yield client


def nested(depth: int) -> str:
    return "{ node { " + "child { " * depth + "name" + " }" * depth + " } }"


def refused(client: TestClient, query: str) -> str:
    started = time.perf_counter()
    response = client.post(
        "/graphql", json={"query": query}, headers={"accept": "application/graphql-response+json"}
    )
    assert time.perf_counter() - started < 5
    assert response.status_code == 400, response.text
    doc = response.json()
    assert "data" not in doc
    assert "Traceback" not in response.text
    return str(doc["errors"][0]["message"])


def test_a_shallow_query_runs(client: TestClient) -> None:
    doc = client.post("/graphql", json={"query": nested(5)}).json()
    assert "errors" not in doc


def test_a_deep_query_is_refused_by_depth(client: TestClient) -> None:
    assert "exceeds maximum operation depth" in refused(client, nested(20))


def test_a_very_deep_query_is_refused_while_parsing(client: TestClient) -> None:
    message = refused(client, nested(5_000))
    assert "nested too deeply" in message or "tokens" in message
    assert len(message) < 200  # the document is not echoed back


def test_deep_nesting_without_the_token_limit_is_still_an_error() -> None:
    with make_client(Limits(max_depth=12, max_aliases=30, max_tokens=None)) as client:
        message = refused(client, nested(3_000))
        assert message


def test_ten_thousand_aliases_are_refused(client: TestClient) -> None:
    query = "{ " + " ".join(f"a{i}: node {{ name }}" for i in range(10_000)) + " }"
    assert "tokens" in refused(client, query)


def test_aliases_over_the_limit_are_refused_by_count() -> None:
    # Without the token limit 10,000 aliases cost seconds of validation (field merging is
    # quadratic): the reason the token limit is on by default.
    with make_client(Limits(max_tokens=None)) as client:
        query = "{ " + " ".join(f"a{i}: node {{ name }}" for i in range(500)) + " }"
        assert "aliases found" in refused(client, query)


def test_a_huge_document_is_refused(client: TestClient) -> None:
    query = "{ node { name } }" + " " * 100 + "#" + "x" * 500_000
    response = client.post("/graphql", json={"query": "{ " + "node { name } " * 50_000 + "}"})
    assert response.status_code in (200, 400, 413)
    assert response.status_code == 413 or "errors" in response.json()
    doc = client.post("/graphql", json={"query": query}).json()
    assert doc == {"data": {"node": {"name": "node"}}}  # comments are not tokens


def test_a_body_over_the_app_limit_is_413() -> None:
    schema = strawberry.Schema(query=Query)
    app = App(settings=Settings(debug=False, max_body_size=10_000), plugins=[GraphQL(schema)])
    with TestClient(app) as client:
        response = client.post("/graphql", json={"query": "{ node { name } }" + " " * 20_000})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


def test_introspection_passes_the_default_limits(client: TestClient) -> None:
    from graphql import get_introspection_query

    # As GraphiQL asks it, with every option on.
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    doc = client.post("/graphql", json={"query": query}).json()
    assert "errors" not in doc
    assert doc["data"]["__schema"]["queryType"]["name"] == "Query"


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_depth"):
        Limits(max_depth=0)


def test_limit_rules_are_built_once_so_validation_can_be_cached() -> None:
    from strawberry.extensions import AddValidationRules

    factories = Limits().extensions()
    first, second = ([f() for f in factories] for _ in range(2))
    rules = [
        tuple(e.validation_rules) for e in (*first, *second) if isinstance(e, AddValidationRules)
    ]
    assert len(rules) == 2 and rules[0] == rules[1] and len(rules[0]) == 2


def test_a_refused_document_is_refused_again_with_the_caches_on(client: TestClient) -> None:
    for _ in range(2):
        assert "exceeds maximum operation depth" in refused(client, nested(20))
        assert "nested too deeply" in refused(client, nested(5_000))
