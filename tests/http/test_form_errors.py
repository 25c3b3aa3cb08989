"""A form that fails reports every invalid field, so a page can show every message at once."""

from typing import Annotated

import msgspec
import pytest

from bastion import App, Form, Settings
from bastion.testing import TestClient

EMAIL = r"^[^@\s]+@[^@\s]+$"


class Signup(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(pattern=EMAIL)]
    age: Annotated[int, msgspec.Meta(ge=18)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    tags: list[Annotated[str, msgspec.Meta(max_length=3)]] = []
    newsletter: bool = False


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = App(settings=Settings(profile="test"))

    @app.post("/signup")
    async def signup(data: Annotated[Signup, Form()]) -> Signup:
        return data

    @app.post("/login")
    async def login(
        username: Annotated[str, Form(min_length=1)],
        age: Annotated[int, Form(ge=0)],
        codes: Annotated[list[int], Form()] = [],
    ) -> dict:
        return {"username": username, "age": age, "codes": codes}

    return TestClient(app)


def reasons(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


def test_every_field_of_a_struct_form_is_reported(client):
    response = client.post("/signup", data={"email": "nope", "age": "12", "tags": ["abcd", "ok"]})
    assert reasons(response) == {
        "form.email": "must be a valid e-mail address",
        "form.age": "must be at least 18",
        "form.name": "is required",
        "form.tags[0]": "must be at most 3 characters long",
    }


def test_every_separate_form_field_is_reported(client):
    response = client.post("/login", data={"username": "", "age": "old", "codes": ["1", "x"]})
    assert reasons(response) == {
        "form.username": "must be at least 1 character long",
        "form.age": "must be an integer",
        "form.codes[1]": "must be an integer",
    }


def test_form_entries_carry_the_rule_but_no_json_pointer(client):
    error = client.post("/signup", data={"email": "a@b.c", "age": "3", "name": "x"}).json()[
        "errors"
    ][0]
    assert error == {
        "field": "form.age",
        "reason": "must be at least 18",
        "constraint": "minimum",
        "expected": 18,
    }


def test_one_value_for_a_list_field_of_a_struct_form_is_a_list_of_one(client):
    response = client.post(
        "/signup", data={"email": "a@b.c", "age": "30", "name": "ada", "tags": "py"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == ["py"]


def test_a_valid_form_still_binds(client):
    response = client.post("/login", data={"username": "ada", "age": "36", "codes": ["1", "2"]})
    assert response.json() == {"username": "ada", "age": 36, "codes": [1, 2]}
