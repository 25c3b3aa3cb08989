"""Queries and mutations over HTTP through httpx, as a client sends them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
import strawberry
from strawberry.types import Info

from bastion import App, Forbidden, Request, Settings
from bastion.exceptions import ConfigurationError
from bastion.graphql import Context, GraphQL, PersistedQueries
from bastion.testing import TestClient


class Counter:
    """An app-scoped service, injected into the context."""

    def __init__(self) -> None:
        self.value = 0


COUNTER = Counter()


def counter() -> Counter:
    return COUNTER


@dataclass
class AppContext(Context):
    counter: Counter


async def make_context(request: Request, counter: Counter) -> AppContext:
    return AppContext(request, counter)


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"Hello, {name}!"

    @strawberry.field
    def count(self, info: Info[AppContext, None]) -> int:
        return info.context.counter.value

    @strawberry.field
    def agent(self, info: Info[AppContext, None]) -> str:
        return info.context.request.headers.get("user-agent", "")

    @strawberry.field
    def broken(self) -> str:
        raise KeyError("secret internal detail")

    @strawberry.field
    def refused(self) -> str:
        raise Forbidden("Not yours")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def increment(self, info: Info[AppContext, None], by: int = 1) -> int:
        info.context.counter.value += by
        return info.context.counter.value


def make_app(**options: object) -> App:
    schema = strawberry.Schema(query=Query, mutation=Mutation)
    app = App(
        settings=Settings(debug=False),
        plugins=[GraphQL(schema, context=make_context, **options)],  # type: ignore[arg-type]
    )
    app.provide(Counter, counter, scope="app")
    return app


@pytest.fixture
def client() -> object:
    COUNTER.value = 0
    with TestClient(make_app()) as client:
        yield client


def test_post_query_with_variables(client: TestClient) -> None:
    body = {"query": "query($n: String!) { hello(name: $n) }", "variables": {"n": "Ada"}}
    response = client.post("/graphql", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {"hello": "Hello, Ada!"}}


def test_get_query(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": "{ hello }"})
    assert response.json() == {"data": {"hello": "Hello, world!"}}


def test_mutation_changes_the_injected_service(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "mutation { increment(by: 2) }"})
    assert response.json() == {"data": {"increment": 2}}
    assert client.post("/graphql", json={"query": "{ count }"}).json() == {"data": {"count": 2}}


def test_resolver_reads_the_request(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ agent }"}, headers={"user-agent": "t/1"})
    assert response.json() == {"data": {"agent": "t/1"}}


def test_mutation_over_get_is_405(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": "mutation { increment }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert COUNTER.value == 0


def test_unexpected_error_is_masked(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ broken hello }"})
    assert response.status_code == 200
    doc = response.json()
    assert doc["data"] is None or doc["data"].get("hello") is None
    assert doc["errors"][0]["message"] == "Internal server error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_only_bugs_are_logged_as_errors(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    client.post("/graphql", json={"query": "{ hello"})
    client.post("/graphql", json={"query": "{ refused }"})
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    client.post("/graphql", json={"query": "{ broken }"})
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.name == "bastion.graphql" and record.exc_info is not None
    assert "secret internal detail" in record.getMessage()


def test_http_error_in_resolver_keeps_its_detail(client: TestClient) -> None:
    doc = client.post("/graphql", json={"query": "{ refused }"}).json()
    assert doc["errors"][0]["message"] == "Not yours"
    assert doc["errors"][0]["extensions"] == {"status": 403}
    assert doc["errors"][0]["path"] == ["refused"]


def test_bad_json_is_400_problem(client: TestClient) -> None:
    response = client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "body", "reason": "not valid JSON"}]


def test_missing_query_is_400_problem(client: TestClient) -> None:
    response = client.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body.query"


def test_wrong_shape_names_the_field(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": 5})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body.query"


def test_batch_array_is_400(client: TestClient) -> None:
    response = client.post("/graphql", json=[{"query": "{ hello }"}])
    assert response.status_code == 400


def test_form_body_is_refused_with_the_media_type_named(client: TestClient) -> None:
    response = client.post("/graphql", data={"query": "{ hello }"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "header.content-type"


def test_bad_variables_in_get_is_400(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": "{ hello }", "variables": "{x"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "query.variables"


def test_syntax_error_is_200_for_json_and_400_for_graphql_response(client: TestClient) -> None:
    legacy = client.post("/graphql", json={"query": "{ hello"})
    assert legacy.status_code == 200
    assert "data" not in legacy.json()
    assert legacy.json()["errors"][0]["message"].startswith("Syntax Error")
    modern = client.post(
        "/graphql",
        json={"query": "{ hello"},
        headers={"accept": "application/graphql-response+json"},
    )
    assert modern.status_code == 400
    assert modern.headers["content-type"] == "application/graphql-response+json"


@pytest.mark.parametrize("variables", [{"n": 5}, {}])
def test_variables_that_do_not_coerce_are_a_request_error(
    client: TestClient, variables: dict[str, object]
) -> None:
    body = {"query": "query($n: String!) { hello(name: $n) }", "variables": variables}
    modern = client.post(
        "/graphql", json=body, headers={"accept": "application/graphql-response+json"}
    )
    assert modern.status_code == 400
    assert "data" not in modern.json()
    assert "$n" in modern.json()["errors"][0]["message"]
    legacy = client.post("/graphql", json=body)
    assert legacy.status_code == 200 and "data" not in legacy.json()


def test_a_failing_field_keeps_data_and_200(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        json={"query": "{ refused }"},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["path"] == ["refused"]


def test_unknown_operation_name_is_400(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "query A { hello }", "operationName": "B"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body.operationName"


def test_graphiql_is_served_offline(client: TestClient) -> None:
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "unpkg" not in page.text and "cdn" not in page.text
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js"):
        assert f"/graphql/graphiql/{asset}" in page.text
        response = client.get(f"/graphql/graphiql/{asset}")
        assert response.status_code == 200 and len(response.content) > 1000
    assert client.get("/graphql/graphiql/..%2Fplugin.py").status_code == 404


def test_graphiql_can_be_turned_off() -> None:
    with TestClient(make_app(graphiql=False)) as client:
        response = client.get("/graphql", headers={"accept": "text/html"})
        assert response.status_code == 400


def test_automatic_persisted_query(client: TestClient) -> None:
    query = "{ hello }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    first = client.post("/graphql", json={"extensions": extensions})
    assert first.status_code == 200
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    second = client.post("/graphql", json={"query": query, "extensions": extensions})
    assert second.json() == {"data": {"hello": "Hello, world!"}}
    third = client.get(
        "/graphql",
        params={"extensions": f'{{"persistedQuery": {{"version": 1, "sha256Hash": "{digest}"}}}}'},
    )
    assert third.json() == {"data": {"hello": "Hello, world!"}}


def test_persisted_query_with_a_wrong_hash_is_400(client: TestClient) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    response = client.post("/graphql", json={"query": "{ hello }", "extensions": extensions})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body.extensions.persistedQuery.sha256Hash"


def test_allow_list_runs_only_its_queries() -> None:
    query = "{ hello }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    allow = PersistedQueries({digest: query}, only=True)
    with TestClient(make_app(persisted_queries=allow)) as client:
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        ok = client.post("/graphql", json={"extensions": extensions})
        assert ok.json() == {"data": {"hello": "Hello, world!"}}
        refused = client.post("/graphql", json={"query": "{ count }"})
        assert refused.status_code == 400


def test_context_without_context_annotation_fails_at_start_up() -> None:
    async def untyped(request: Request):  # type: ignore[no-untyped-def]
        return {}

    schema = strawberry.Schema(query=Query)
    with pytest.raises(ConfigurationError, match="must be annotated to return"):
        GraphQL(schema, context=untyped)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": "graphql"}, "must look like '/graphql'"),
        ({"path": "/graphql/"}, "must look like '/graphql'"),
        ({"cache_size": -1}, "cache_size"),
        ({"max_subscriptions": 0}, "must be positive"),
    ],
)
def test_misconfiguration_fails_at_start_up(options: dict[str, object], message: str) -> None:
    schema = strawberry.Schema(query=Query)
    with pytest.raises(ConfigurationError, match=message):
        GraphQL(schema, **options)  # type: ignore[arg-type]


def test_a_schema_object_is_not_a_schema() -> None:
    with pytest.raises(ConfigurationError, match="strawberry.Schema"):
        GraphQL(Query)  # type: ignore[arg-type]
