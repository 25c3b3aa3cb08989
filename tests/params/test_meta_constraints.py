"""``Annotated[int, msgspec.Meta(ge=1)]`` on a query or path parameter is enforced and
documented like ``Query(ge=1)``: msgspec users write constraints that way, and they were
silently ignored (the request passed, the schema said nothing)."""

from typing import Annotated

import msgspec

from bastion import App
from bastion.testing import TestClient

app = App()


@app.get("/pages")
async def pages(page: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1) -> int:
    return page


@app.get("/codes/{code}")
async def codes(code: Annotated[str, msgspec.Meta(min_length=3, pattern="^[A-Z]+$")]) -> str:
    return code


client = TestClient(app)


def test_query_meta_constraints_are_enforced():
    assert client.get("/pages?page=3").json() == 3
    refused = client.get("/pages?page=0")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "query.page"


def test_path_meta_constraints_are_enforced():
    assert client.get("/codes/ABC").text == "ABC"
    assert client.get("/codes/ab").status_code == 422


def test_meta_constraints_appear_in_openapi():
    document = client.get("/openapi.json").json()
    [page] = document["paths"]["/pages"]["get"]["parameters"]
    assert page["schema"]["minimum"] == 1 and page["schema"]["maximum"] == 50
    [code] = document["paths"]["/codes/{code}"]["get"]["parameters"]
    assert code["schema"]["minLength"] == 3 and code["schema"]["pattern"] == "^[A-Z]+$"
