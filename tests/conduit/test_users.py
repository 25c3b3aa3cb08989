"""Users: register, log in, the current user and its partial update."""

import re

import pytest

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def register(client, **user):
    return client.post("/api/users", json={"user": user})


def test_register_answers_201_with_the_user_and_a_token(client):
    response = register(client, username="jake", email="jake@jake.jake", password="jakejake")
    assert response.status_code == 201
    user = response.json()["user"]
    assert set(user) == {"email", "token", "username", "bio", "image"}
    assert (user["email"], user["username"], user["bio"], user["image"]) == ("jake@jake.jake", "jake", None, None)
    assert client.get("/api/user", headers={"Authorization": f"Token {user['token']}"}).status_code == 200


@pytest.mark.parametrize("taken", ["username", "email"])
def test_register_refuses_a_taken_username_or_email_with_409(client, taken):
    register(client, username="jake", email="jake@jake.jake", password="jakejake")
    other = {"username": "other", "email": "other@example.com", "password": "x"}
    other[taken] = {"username": "jake", "email": "jake@jake.jake"}[taken]
    response = register(client, **other)
    assert response.status_code == 409
    assert response.json() == {"errors": {taken: ["has already been taken"]}}


def test_register_names_every_taken_field(client):
    register(client, username="jake", email="jake@jake.jake", password="jakejake")
    response = register(client, username="jake", email="jake@jake.jake", password="x")
    assert response.json() == {"errors": {"username": ["has already been taken"], "email": ["has already been taken"]}}


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("value", ["", "   ", None, "missing"])
def test_register_refuses_a_blank_field_with_422(client, field, value):
    user = {"username": "jake", "email": "jake@jake.jake", "password": "jakejake"}
    if value == "missing":
        del user[field]
    else:
        user[field] = value
    response = register(client, **user)
    assert response.status_code == 422
    assert response.json() == {"errors": {field: ["can't be blank"]}}


def test_register_reports_all_blank_fields_at_once(client):
    """The rule is on the schema (so OpenAPI shows it), and the body's validation names every
    blank field."""
    response = register(client, username="", email=" ", password="")
    assert response.json() == {"errors": {f: ["can't be blank"] for f in ("username", "email", "password")}}


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        (b"{}", "user", "can't be blank"),
        (b'{"user": null}', "user", "can't be blank"),
        (b'{"user": 3}', "user", "is invalid"),
        (b"[]", "body", "is invalid"),
        (b"{not json", "body", "is invalid"),
        (b"", "body", "can't be blank"),
        (b'{"user": {"username": 1, "email": "a@b.c", "password": "x"}}', "username", "is invalid"),
    ],
)
def test_a_malformed_body_is_422_in_the_spec_shape(client, content, field, message):
    response = client.post("/api/users", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"errors": {field: [message]}}


def test_an_overlong_username_is_422(client):
    response = register(client, username="x" * 101, email="a@b.c", password="x")
    assert response.status_code == 422
    assert response.json() == {"errors": {"username": ["is too long (maximum is 100 characters)"]}}


def test_login_answers_the_user_with_a_token(client, api):
    api.register("jake", password="jakejake")
    response = client.post("/api/users/login", json={"user": {"email": "jake@example.com", "password": "jakejake"}})
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["username"] == "jake"
    assert client.get("/api/user", headers={"Authorization": f"Token {user['token']}"}).json()["user"]["email"] == "jake@example.com"


@pytest.mark.parametrize(("email", "password"), [("jake@example.com", "wrong"), ("nobody@example.com", "jakejake")])
def test_login_with_bad_credentials_is_401(client, api, email, password):
    api.register("jake", password="jakejake")
    response = client.post("/api/users/login", json={"user": {"email": email, "password": password}})
    assert response.status_code == 401
    assert response.json() == {"errors": {"credentials": ["invalid"]}}


@pytest.mark.parametrize("field", ["email", "password"])
def test_login_with_a_blank_field_is_422(client, field):
    user = {"email": "jake@example.com", "password": "jakejake", field: ""}
    response = client.post("/api/users/login", json={"user": user})
    assert response.status_code == 422
    assert response.json() == {"errors": {field: ["can't be blank"]}}


def test_current_user(client, api):
    auth = api.register("jake")
    user = client.get("/api/user", headers=auth).json()["user"]
    assert (user["username"], user["email"]) == ("jake", "jake@example.com")
    assert user["token"]


@pytest.mark.parametrize(
    "header",
    [None, "Token", "Token not-a-jwt", "Bearer {token}", "Token {token}x", "Token eyJhbGciOiJIUzI1NiJ9.e30.c2ln"],
)
def test_current_user_without_a_valid_token_is_401(client, api, header):
    token = api.register("jake")["Authorization"].removeprefix("Token ")
    headers = {} if header is None else {"Authorization": header.format(token=token)}
    response = client.get("/api/user", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}
    assert response.headers["www-authenticate"].startswith("Token")


def test_a_token_signed_with_another_key_is_401(client, api):
    import jwt

    forged = jwt.encode({"sub": "1", "exp": 4102444800}, "another-secret-of-at-least-32-bytes!!", algorithm="HS256")
    response = client.get("/api/user", headers={"Authorization": f"Token {forged}"})
    assert response.json() == {"errors": {"token": ["is missing"]}}


def test_update_changes_only_the_fields_sent(client, api):
    auth = api.register("jake")
    response = client.put("/api/user", headers=auth, json={"user": {"bio": "I like to skateboard", "image": "https://i.stack.imgur.com/xHWG8.jpg"}})
    assert response.status_code == 200
    user = response.json()["user"]
    assert (user["username"], user["email"]) == ("jake", "jake@example.com")
    assert (user["bio"], user["image"]) == ("I like to skateboard", "https://i.stack.imgur.com/xHWG8.jpg")
    cleared = client.put("/api/user", headers=auth, json={"user": {"image": None}}).json()["user"]
    assert (cleared["bio"], cleared["image"]) == ("I like to skateboard", None)
    read_back = client.get("/api/user", headers=auth).json()["user"]
    # A fresh token each time: its iat is the second it was issued, so only the rest compares.
    assert {**read_back, "token": None} == {**cleared, "token": None}


def test_update_email_username_and_password(client, api):
    auth = api.register("jake", password="old-password")
    changes = {"email": "new@example.com", "username": "jacob", "password": "new-password"}
    user = client.put("/api/user", headers=auth, json={"user": changes}).json()["user"]
    assert (user["email"], user["username"]) == ("new@example.com", "jacob")

    def login(password):
        return client.post("/api/users/login", json={"user": {"email": "new@example.com", "password": password}})

    assert login("new-password").status_code == 200
    assert login("old-password").status_code == 401
    assert client.get("/api/profiles/jacob").status_code == 200


def test_update_to_your_own_username_is_not_a_conflict(client, api):
    auth = api.register("jake")
    response = client.put("/api/user", headers=auth, json={"user": {"username": "jake", "email": "jake@example.com"}})
    assert response.status_code == 200


@pytest.mark.parametrize("taken", ["username", "email"])
def test_update_to_a_taken_username_or_email_is_409(client, api, taken):
    api.register("other")
    auth = api.register("jake")
    value = {"username": "other", "email": "other@example.com"}[taken]
    response = client.put("/api/user", headers=auth, json={"user": {taken: value}})
    assert response.status_code == 409
    assert response.json() == {"errors": {taken: ["has already been taken"]}}


@pytest.mark.parametrize("field", ["username", "email", "password"])
def test_update_to_a_blank_field_is_422(client, api, field):
    auth = api.register("jake")
    response = client.put("/api/user", headers=auth, json={"user": {field: ""}})
    assert response.status_code == 422
    assert response.json() == {"errors": {field: ["can't be blank"]}}


def test_update_without_the_user_object_is_422(client, api):
    response = client.put("/api/user", headers=api.register("jake"), json={"bio": "x"})
    assert response.json() == {"errors": {"user": ["can't be blank"]}}


def test_update_without_a_token_is_401(client):
    response = client.put("/api/user", json={"user": {"bio": "x"}})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


def test_with_a_secret_key_the_development_key_signs_nothing(conduit_url):
    import jwt

    from bastion import Settings
    from bastion.testing import TestClient
    from examples.conduit.app import create_app
    from examples.conduit.auth import DEVELOPMENT_SECRET

    settings = Settings(profile="test", secret_key="a-real-secret-key-of-at-least-32-characters")
    forged = jwt.encode({"sub": "1", "exp": 4102444800}, DEVELOPMENT_SECRET, algorithm="HS256")
    with TestClient(create_app(settings, database_url=conduit_url)) as client:
        response = client.get("/api/user", headers={"Authorization": f"Token {forged}"})
    assert response.status_code == 401
