import dataclasses
import enum
from typing import Annotated, TypedDict

import msgspec
import pydantic
import pytest
from openapi_spec_validator import validate

from bastion import App, Body, Cookie, Depends, Form, Header, Query, Router, Settings
from bastion.http.uploads import UploadFile
from bastion.openapi import build_document
from bastion.testing import TestClient


class Color(enum.Enum):
    red = "red"
    blue = "blue"


class NewPet(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    color: Color = Color.red


class Pet(NewPet):
    id: int = 0


@dataclasses.dataclass
class Owner:
    name: str


class Tag(TypedDict):
    label: str


class Review(pydantic.BaseModel):
    stars: int = pydantic.Field(ge=1, le=5)
    text: str = ""


async def paging(limit: Annotated[int, Query(ge=1, le=50, description="page size")] = 10) -> int:
    return limit


def build_app() -> App:
    app = App(
        settings=Settings(profile="test"), title="Pets", version="2.0.0",
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        openapi_tags=[{"name": "pets", "description": "Pet operations"}],
    )
    pets = Router("/pets", tags=["pets"])

    @pets.get("/")
    async def list_pets(
        limit: Annotated[int, Depends(paging)], color: Color | None = None, q: list[str] | None = None
    ) -> list[Pet]:
        """List pets.

        Filter by color.
        """
        return []

    @pets.post("/", security=[{"bearer": []}])
    async def create_pet(pet: NewPet, x_trace: Annotated[str | None, Header()] = None) -> Pet:
        return Pet(name=pet.name)

    @pets.get("/{pet_id:int}", responses={409: "Conflict", 410: Owner})
    async def get_pet(pet_id: int, session: Annotated[str | None, Cookie()] = None) -> Pet:
        return Pet(name="x", id=pet_id)

    @pets.put("/{pet_id}/owner", deprecated=True)
    async def set_owner(pet_id: int, owner: Owner) -> Owner:
        return owner

    @pets.post("/{pet_id}/tags")
    async def tag(pet_id: int, tags: Annotated[list[Tag], Body()]) -> list[Tag]:
        return tags

    @pets.post("/{pet_id}/reviews")
    async def review(pet_id: int, review: Review) -> Review:
        return review

    @pets.post("/{pet_id}/photo")
    async def photo(pet_id: int, file: UploadFile, caption: Annotated[str, Form()] = "") -> dict:
        return {}

    @pets.delete("/{pet_id}")
    async def delete_pet(pet_id: int) -> None:
        return None

    @pets.get("/hidden", include_in_schema=False)
    async def hidden() -> str:
        return ""

    app.include(pets)

    @app.get("/text")
    async def text() -> str:
        return "t"

    return app


@pytest.fixture(scope="module")
def document():
    return build_document(build_app())


def test_document_validates(document):
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Pets", "version": "2.0.0"}


def test_served_document_matches(document):
    client = TestClient(build_app())
    served = client.get("/openapi.json")
    assert served.headers["content-type"] == "application/json"
    assert served.json() == document


def test_paths_drop_converters_and_hidden_routes(document):
    assert "/pets/{pet_id}" in document["paths"]
    assert "/pets/hidden" not in document["paths"]
    assert "/openapi.json" not in document["paths"]


def test_summary_and_description_from_docstring(document):
    op = document["paths"]["/pets"]["get"]
    assert op["summary"] == "List pets."
    assert op["description"] == "Filter by color."
    assert op["tags"] == ["pets"]


def test_query_constraints_from_dependencies_are_documented(document):
    params = {p["name"]: p for p in document["paths"]["/pets"]["get"]["parameters"]}
    assert params["limit"]["schema"]["minimum"] == 1
    assert params["limit"]["schema"]["maximum"] == 50
    assert params["limit"]["description"] == "page size"
    assert params["color"]["required"] is False
    assert params["q"]["explode"] is True


def test_header_and_cookie_parameters(document):
    post = {p["name"]: p for p in document["paths"]["/pets"]["post"]["parameters"]}
    assert post["x-trace"]["in"] == "header"
    get = {p["name"]: p for p in document["paths"]["/pets/{pet_id}"]["get"]["parameters"]}
    assert get["session"]["in"] == "cookie"
    assert get["pet_id"] == {"name": "pet_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def test_struct_body_and_response_refs_resolve(document):
    op = document["paths"]["/pets"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NewPet"}
    assert op["responses"]["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Pet"}
    assert "NewPet" in document["components"]["schemas"]
    assert "Color" in document["components"]["schemas"]


def test_error_responses_are_problem_json(document):
    responses = document["paths"]["/pets"]["post"]["responses"]
    for code in ("400", "413", "415", "422"):
        assert responses[code]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "404" in document["paths"]["/pets/{pet_id}"]["get"]["responses"]


def test_extra_responses_option(document):
    responses = document["paths"]["/pets/{pet_id}"]["get"]["responses"]
    assert responses["409"] == {"description": "Conflict", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    assert responses["410"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Owner"}


def test_deprecated_and_security(document):
    assert document["paths"]["/pets/{pet_id}/owner"]["put"]["deprecated"] is True
    assert document["paths"]["/pets"]["post"]["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["tags"][0]["name"] == "pets"


def test_pydantic_models_in_components(document):
    op = document["paths"]["/pets/{pet_id}/reviews"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Review"}
    assert document["components"]["schemas"]["Review"]["properties"]["stars"]["maximum"] == 5


def test_typeddict_list_body(document):
    schema = document["paths"]["/pets/{pet_id}/tags"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}


def test_multipart_upload_body(document):
    content = document["paths"]["/pets/{pet_id}/photo"]["post"]["requestBody"]["content"]
    schema = content["multipart/form-data"]["schema"]
    assert schema["properties"]["file"] == {"type": "string", "format": "binary"}
    assert schema["required"] == ["file"]


def test_none_return_is_204_and_text_is_plain(document):
    assert "204" in document["paths"]["/pets/{pet_id}"]["delete"]["responses"]
    assert "text/plain; charset=utf-8" in document["paths"]["/text"]["get"]["responses"]["200"]["content"]


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


def test_duplicate_handler_names_get_distinct_ids():
    app = App(settings=Settings(profile="test"))
    a, b = Router("/a"), Router("/b")
    a.get("/")(lambda: "a")
    b.get("/")(lambda: "b")
    app.include(a)
    app.include(b)
    ids = [op["operationId"] for p in build_document(app)["paths"].values() for op in p.values()]
    assert len(set(ids)) == 2


def test_openapi_can_be_disabled():
    app = App(settings=Settings(profile="test", openapi_url=None, docs_url=None))
    client = TestClient(app)
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_document_follows_rebuilds():
    app = App(settings=Settings(profile="test"))
    app.get("/one")(lambda: "1")
    client = TestClient(app)
    assert list(client.get("/openapi.json").json()["paths"]) == ["/one"]
    app.get("/two")(lambda: "2")  # declared after the first build
    assert set(client.get("/openapi.json").json()["paths"]) == {"/one", "/two"}
