"""API key self-service on SQLite and PostgreSQL: created and shown once, relabelled,
rotated with an overlap window, revoked; only by their owner, never with an API key; and
every bad input a 4xx naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.auth import JWTAuth
from bastion.testing import TestClient
from tests.apim.apim_app import build
from tests.db.conftest import database_url  # noqa: F401  (SQLite and PostgreSQL)


def sign_in(jwt: JWTAuth, who: str = "alice") -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode({"sub": who})}


@pytest.fixture
def served(database_url: str) -> Any:  # noqa: F811
    app, jwt, _ = build(database_url, reset=True)
    with TestClient(app) as client:
        yield client, jwt


def report(client: TestClient, key: str) -> int:
    return client.get("/reports/2026", headers={"X-API-Key": key}).status_code


def test_a_key_is_shown_once_and_authenticates_as_its_owner(served: Any) -> None:
    client, jwt = served
    created = client.post(
        "/developer/api/keys",
        json={"name": " CI ", "scopes": ["reports:read"]},
        headers=sign_in(jwt),
    ).json()
    assert created["info"]["name"] == "CI" and created["info"]["status"] == "active"
    key = created["key"]
    response = client.get("/reports/2026", headers={"X-API-Key": key})
    assert response.json()["owner"] == "alice"
    listed = client.get("/developer/api/keys", headers=sign_in(jwt)).json()
    assert [k["prefix"] for k in listed] == [created["info"]["prefix"]]
    assert key.split("_", 2)[2] not in str(listed)
    assert key.startswith(created["info"]["prefix"].rstrip("…"))


def test_a_key_can_be_relabelled(served: Any) -> None:
    client, jwt = served
    key_id = client.post("/developer/api/keys", json={"name": "a"}, headers=sign_in(jwt)).json()[
        "info"
    ]["id"]
    relabelled = client.patch(
        f"/developer/api/keys/{key_id}", json={"name": "nightly build"}, headers=sign_in(jwt)
    )
    assert relabelled.json()["name"] == "nightly build"


def test_rotation_keeps_the_old_key_valid_for_the_overlap_only(served: Any) -> None:
    client, jwt = served
    old = client.post(
        "/developer/api/keys", json={"name": "CI", "scopes": ["reports:read"]}, headers=sign_in(jwt)
    ).json()
    rotated = client.post(
        f"/developer/api/keys/{old['info']['id']}/rotate",
        json={"overlap_seconds": 3600},
        headers=sign_in(jwt),
    )
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["key"] != old["key"]
    assert (new["info"]["name"], new["info"]["scopes"]) == ("CI", ["reports:read"])
    assert report(client, old["key"]) == 200 and report(client, new["key"]) == 200
    statuses = {k["id"]: k for k in client.get("/developer/api/keys", headers=sign_in(jwt)).json()}
    assert statuses[old["info"]["id"]]["status"] == "expiring"
    assert statuses[old["info"]["id"]]["expires_at"] is not None
    assert statuses[new["info"]["id"]]["status"] == "active"

    # Rotating the new key with no overlap ends it at once; its successor works.
    third = client.post(
        f"/developer/api/keys/{new['info']['id']}/rotate",
        json={"overlap_seconds": 0},
        headers=sign_in(jwt),
    ).json()
    refused = client.get("/reports/2026", headers={"X-API-Key": new["key"]})
    assert refused.status_code == 401 and refused.json()["detail"] == "The API key has expired"
    assert report(client, third["key"]) == 200
    assert report(client, old["key"]) == 200  # its own overlap still runs


def test_a_revoked_key_is_refused_at_once_and_cannot_be_rotated(served: Any) -> None:
    client, jwt = served
    created = client.post("/developer/api/keys", json={"name": "CI"}, headers=sign_in(jwt)).json()
    key_id = created["info"]["id"]
    assert client.delete(f"/developer/api/keys/{key_id}", headers=sign_in(jwt)).status_code == 204
    refused = client.get("/reports/2026", headers={"X-API-Key": created["key"]})
    assert refused.status_code == 401 and refused.json()["detail"] == "The API key has been revoked"
    [listed] = client.get("/developer/api/keys", headers=sign_in(jwt)).json()
    assert listed["status"] == "revoked" and listed["revoked_at"] is not None
    again = client.post(f"/developer/api/keys/{key_id}/rotate", json={}, headers=sign_in(jwt))
    assert again.status_code == 404 and "revoked" in again.json()["detail"]


def test_someone_elses_key_is_not_found(served: Any) -> None:
    client, jwt = served
    key_id = client.post("/developer/api/keys", json={"name": "x"}, headers=sign_in(jwt)).json()[
        "info"
    ]["id"]
    bob = sign_in(jwt, "bob")
    assert client.delete(f"/developer/api/keys/{key_id}", headers=bob).status_code == 404
    assert (
        client.post(f"/developer/api/keys/{key_id}/rotate", json={}, headers=bob).status_code == 404
    )
    patched = client.patch(f"/developer/api/keys/{key_id}", json={"name": "y"}, headers=bob)
    assert patched.status_code == 404
    assert client.get("/developer/api/keys", headers=bob).json() == []


def test_keys_are_not_managed_with_an_api_key_nor_anonymously(served: Any) -> None:
    client, jwt = served
    key = client.post("/developer/api/keys", json={"name": "x"}, headers=sign_in(jwt)).json()["key"]
    with_key = client.post("/developer/api/keys", json={"name": "y"}, headers={"X-API-Key": key})
    assert with_key.status_code == 403
    assert with_key.headers["content-type"] == "application/problem+json"
    anonymous = client.get("/developer/api/keys")
    assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers
    assert client.get("/developer").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/developer/api/keys", {"name": ""}, "name"),
        ("post", "/developer/api/keys", {"name": "   "}, "name"),
        ("post", "/developer/api/keys", {"name": "x" * 101}, "name"),
        ("post", "/developer/api/keys", {}, "name"),
        ("post", "/developer/api/keys", {"name": "x", "scopes": ["admin"]}, "scopes"),
        ("post", "/developer/api/keys", {"name": "x", "scopes": ["no spaces"]}, "scopes"),
        ("post", "/developer/api/keys", {"name": "x", "colour": "red"}, "colour"),
        ("post", "/developer/api/keys", [1, 2], "body"),
        ("post", "/developer/api/keys/1/rotate", {"overlap_seconds": -1}, "overlap_seconds"),
        (
            "post",
            "/developer/api/keys/1/rotate",
            {"overlap_seconds": 31 * 86400},
            "overlap_seconds",
        ),
        ("post", "/developer/api/keys/1/rotate", {"overlap_seconds": "1h"}, "overlap_seconds"),
        ("patch", "/developer/api/keys/1", {"name": None}, "name"),
        ("get", "/developer/api/usage?days=0", None, "days"),
        ("get", "/developer/api/usage?days=abc", None, "days"),
        ("get", "/developer/usage?days=91", None, "days"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    served: Any, method: str, path: str, body: Any, field: str
) -> None:
    client, jwt = served
    client.post("/developer/api/keys", json={"name": "first"}, headers=sign_in(jwt))
    options: dict[str, Any] = {"headers": sign_in(jwt)}
    if body is not None:
        options["json"] = body
    response = client.request(method.upper(), path, **options)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


def test_malformed_json_and_unknown_ids_are_4xx(served: Any) -> None:
    client, jwt = served
    broken = client.post(
        "/developer/api/keys",
        content=b'{"name": ',
        headers={**sign_in(jwt), "content-type": "application/json"},
    )
    assert broken.status_code in (400, 422)
    assert client.delete("/developer/api/keys/999", headers=sign_in(jwt)).status_code == 404
    assert client.delete("/developer/api/keys/abc", headers=sign_in(jwt)).status_code == 404


def test_the_self_service_routes_are_documented_in_openapi(served: Any) -> None:
    client, _ = served
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/developer/api/keys"]) >= {"get", "post"}
    assert set(paths["/developer/api/keys/{key_id}"]) >= {"patch", "delete"}
    assert "post" in paths["/developer/api/keys/{key_id}/rotate"]
    assert "get" in paths["/developer/api/usage"]
    assert "/developer" not in paths and "/developer/usage" not in paths
    create = paths["/developer/api/keys"]["post"]
    assert "201" in create["responses"] and "requestBody" in create
