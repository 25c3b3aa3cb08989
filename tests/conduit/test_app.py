"""App-wide behaviour: every error (even the router's own) in the spec's shape, the OpenAPI
document and docs page, CORS for browser frontends."""

import re

import jsonschema_rs
import pytest

from examples.conduit.schemas import NOT_BLANK


def test_an_unknown_route_is_404_in_the_spec_shape(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"errors": {"body": ["not found"]}}


def test_a_wrong_method_is_405_in_the_spec_shape(client):
    response = client.patch("/api/user")
    assert response.status_code == 405
    assert "allow" in response.headers
    assert list(response.json()["errors"]) == ["body"]


def test_the_openapi_document_and_docs_page_are_served(client):
    document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "Conduit"
    assert "/api/articles/{slug}/comments/{comment_id}" in document["paths"]
    assert client.get("/docs").status_code == 200


def test_a_frontend_on_another_origin_may_call_the_api(client):
    preflight = client.options("/api/user", headers={
        "Origin": "http://localhost:4200",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert client.get("/api/tags", headers={"Origin": "http://localhost:4200"}).headers["access-control-allow-origin"] == "*"


def test_the_openapi_document_shows_the_spec_error_shape(client):
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                assert "application/problem+json" not in response.get("content", {}), (method, path, status)
    forbidden = document["paths"]["/api/articles/{slug}"]["put"]["responses"]["403"]
    assert forbidden["content"]["application/json"]["schema"]["$ref"].endswith("/Errors")


def test_the_document_states_every_rule_the_handlers_enforce(client):
    """A client generating requests from the document (schemathesis did) never sends a blank
    field or an out-of-range page expecting it to be accepted."""
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    filled = {
        "NewUser": ["username", "email", "password"],
        "LoginUser": ["email", "password"],
        "UserChanges": ["email", "username", "password"],
        "NewArticle": ["title", "description", "body"],
        "ArticleChanges": ["title", "description", "body"],
        "NewComment": ["body"],
    }
    for name, fields in filled.items():
        for field in fields:
            schema = schemas[name]["properties"][field]
            schema = next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"), schema)
            assert (schema["minLength"], schema["pattern"]) == (1, NOT_BLANK), (name, field)
    for path in ("/api/articles", "/api/articles/feed"):
        parameters = {p["name"]: p["schema"] for p in document["paths"][path]["get"]["parameters"]}
        assert (parameters["limit"]["minimum"], parameters["limit"]["maximum"]) == (0, 1000)
        assert (parameters["offset"]["minimum"], parameters["offset"]["maximum"]) == (0, 2**31 - 1)
    comment = document["paths"]["/api/articles/{slug}/comments/{comment_id}"]["delete"]["parameters"]
    comment_id = next(p["schema"] for p in comment if p["name"] == "comment_id")
    assert (comment_id["minimum"], comment_id["maximum"]) == (1, 2**31 - 1)


@pytest.mark.parametrize("value", ["", " ", "\t\n"])
@pytest.mark.parametrize(("path", "wrapper", "field"), [
    ("/api/users", "user", "username"), ("/api/users/login", "user", "email"),
    ("/api/user", "user", "username"), ("/api/articles", "article", "title"),
])
def test_a_blank_field_is_refused_as_the_document_says(client, api, path, wrapper, field, value):
    auth = api.register("jake")
    bodies = {
        "/api/users": {"username": "ann", "email": "ann@example.com", "password": "secret"},
        "/api/users/login": {"email": "jake@example.com", "password": "secret-password"},
        "/api/user": {},
        "/api/articles": {"title": "t", "description": "d", "body": "b"},
    }
    method = client.put if path == "/api/user" else client.post
    response = method(path, headers=auth, json={wrapper: {**bodies[path], field: value}})
    assert response.status_code == 422
    assert response.json() == {"errors": {field: ["can't be blank"]}}


#: Every character Python's ``re`` or ECMA-262 (JSON Schema's regex dialect) counts as white
#: space, where ``\S`` means different things to each, and a few that neither does.
SPACES_AND_NEIGHBOURS = [
    *"\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff",
    *(chr(c) for c in range(0x2000, 0x200B)), "\u200b", "\u180e", "\x1b", "x", "\u00e9",
]


def test_the_blank_rule_reads_the_same_in_python_and_in_ecma_262():
    """msgspec runs the pattern with Python's re; the document's readers run it as ECMA-262.
    jsonschema_rs (schemathesis's validator) reads it as ECMA-262 does."""
    python = re.compile(NOT_BLANK)
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": NOT_BLANK})
    differ = [hex(c) for c in range(0x110000)
              if not 0xD800 <= c <= 0xDFFF and bool(python.search(chr(c))) != ecma.is_valid(chr(c))]
    assert differ == []


@pytest.mark.parametrize("value", SPACES_AND_NEIGHBOURS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_field_is_blank_to_the_server_exactly_when_the_document_says_so(client, value):
    """A value the document allows must not be refused as blank, and one it refuses must not
    be let through: schemathesis sent U+0085 (not space in ECMA-262, space in Python's re) as
    a valid e-mail and got "can't be blank" for the pattern \\S."""
    document = client.get("/openapi.json").json()
    email = document["components"]["schemas"]["LoginUser"]["properties"]["email"]
    allowed = jsonschema_rs.validator_for(email).is_valid(value)
    response = client.post("/api/users/login", json={"user": {"email": value, "password": "x"}})
    if allowed:
        assert response.status_code == 401, response.json()
    else:
        assert response.json() == {"errors": {"email": ["can't be blank"]}}
