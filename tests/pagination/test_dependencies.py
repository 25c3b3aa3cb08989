"""The pagination dependencies over plain sequences, their bounds (explicit or from the
settings), the OpenAPI description, and pages built by hand without a request."""

from typing import Annotated

import msgspec
import pytest

from bastion import App, Settings
from bastion.exceptions import ConfigurationError
from bastion.pagination import (
    CursorParams,
    Cursors,
    Page,
    PageParams,
    PageResponse,
    Pages,
    cursors,
    pages,
)
from bastion.testing import TestClient


class Item(msgspec.Struct):
    id: int
    name: str


ITEMS = [Item(n, f"item {n}") for n in range(1, 24)]


def make_app(**settings: object) -> App:
    app = App(settings=Settings(profile="test", **settings))  # type: ignore[arg-type]

    @app.get("/items")
    async def items(params: Pages) -> Page[Item]:
        return params.sequence(ITEMS)

    @app.get("/bounded")
    async def bounded(
        params: Annotated[PageParams, pages(size=5, max_size=10, count=False)],
    ) -> Page[Item]:
        return params.sequence(ITEMS)

    @app.get("/stream", response_model=list[Item])
    async def stream(params: Cursors) -> PageResponse:
        return PageResponse(params.sequence(ITEMS, key=lambda i: i.id), envelope=False)

    @app.get("/names")
    async def names(params: Annotated[CursorParams, cursors(size=4)]) -> Page[Item]:
        return params.sequence(sorted(ITEMS, key=lambda i: i.name), key=lambda i: (i.name, i.id))

    return app


def test_a_sequence_pages_with_its_length_as_total():
    with TestClient(make_app()) as client:
        page = client.get("/items?page=2&size=10").json()
        assert [i["id"] for i in page["items"]] == list(range(11, 21))
        assert page["total"] == 23
        assert page["next"] == "/items?size=10&page=3" and page["prev"] == "/items?size=10"
        empty = client.get("/items?page=9").json()
        assert empty["items"] == [] and empty["next"] is None


def test_sizes_default_to_and_are_bounded_by_the_settings():
    with TestClient(make_app(page_size=7, max_page_size=12)) as client:
        assert len(client.get("/items").json()["items"]) == 7
        assert len(client.get("/items?size=12").json()["items"]) == 12
        refused = client.get("/items?size=13")
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"field": "query.size", "reason": "Expected a value <= 12"}
        ]


def test_explicit_bounds_win_and_an_uncounted_page_has_no_total():
    with TestClient(make_app(page_size=50)) as client:
        page = client.get("/bounded").json()
        assert len(page["items"]) == 5 and page["total"] == 23  # a sequence's length is free
        assert client.get("/bounded?size=11").status_code == 422


def test_a_bare_list_carries_its_links_in_the_link_header():
    with TestClient(make_app()) as client:
        first = client.get("/stream?size=10")
        assert [i["id"] for i in first.json()] == list(range(1, 11))
        assert first.headers["x-total-count"] == "23"
        next_url = first.headers["link"].split(">")[0].lstrip("<")
        second = client.get(next_url)
        assert [i["id"] for i in second.json()] == list(range(11, 21))
        assert 'rel="next"' in second.headers["link"] and 'rel="prev"' in second.headers["link"]


def test_a_cursor_over_a_sequence_follows_a_composite_key_both_ways():
    with TestClient(make_app()) as client:
        seen, url, pages_ = [], "/names", []
        while url:
            page = client.get(url).json()
            pages_.append(page)
            seen += [i["name"] for i in page["items"]]
            url = page["next"]
        assert seen == sorted(i.name for i in ITEMS)
        back = client.get(pages_[-1]["prev"]).json()
        assert back["items"] == pages_[-2]["items"]


def test_openapi_describes_the_parameters_bounds_and_the_envelope():
    with TestClient(make_app()) as client:
        document = client.get("/openapi.json").json()
    operation = document["paths"]["/bounded"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["size"]["minimum"] == 1 and params["size"]["maximum"] == 10
    assert params["page"]["minimum"] == 1
    assert "422" in operation["responses"]
    envelope = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][envelope.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"items", "total", "next", "prev"}
    assert schema["required"] == ["items"]
    cursor = document["paths"]["/stream"]["get"]["parameters"]
    assert {p["name"] for p in cursor} == {"cursor", "size"}
    assert next(p for p in cursor if p["name"] == "cursor")["schema"]["maxLength"] == 2048


def test_pages_built_by_hand_have_no_links():
    page = PageParams(page=2, size=5).sequence(ITEMS)
    assert [i.id for i in page.items] == [6, 7, 8, 9, 10] and page.total == 23
    assert page.next is None and page.prev is None
    first = CursorParams(size=3).sequence(ITEMS, key=lambda i: i.id)
    assert [i.id for i in first.items] == [1, 2, 3]


def test_bad_bounds_fail_at_start_up():
    with pytest.raises(ConfigurationError, match="lower size or raise max_size"):
        pages(size=50, max_size=10)
    with pytest.raises(ConfigurationError, match="whole number"):
        cursors(max_size=0)


def test_openapi_documents_the_link_header_of_page_responses():
    with TestClient(make_app()) as client:
        document = client.get("/openapi.json").json()
    ok = document["paths"]["/stream"]["get"]["responses"]["200"]
    assert set(ok["headers"]) == {"Link", "X-Total-Count"}
    assert ok["content"]["application/json"]["schema"]["type"] == "array"  # response_model
    assert "headers" not in document["paths"]["/items"]["get"]["responses"]["200"]
    from openapi_spec_validator import validate

    validate(document)
