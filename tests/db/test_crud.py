
import pytest
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion import ConfigurationError
from bastion.db import Model
from bastion.db.crud import CRUDRouter
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Shelf(Model):
    __tablename__ = "shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40), unique=True)


class Volume(Model):
    __tablename__ = "volumes"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), unique=True)
    year: Mapped[int]
    shelf_id: Mapped[int | None] = mapped_column(ForeignKey("shelves.id"))


@pytest.fixture
def client(database_url):
    app, _ = app_with_tables(database_url)
    app.include(CRUDRouter(Volume, filters=["year", "title"], sort=["title", "year"], page_size=2))
    app.include(CRUDRouter(Shelf))
    with TestClient(app) as test_client:
        yield test_client


def seed(client):
    for title, year in [("Dune", 1965), ("Emma", 1815), ("Ubik", 1969), ("Beloved", 1987)]:
        assert client.post("/volumes", json={"title": title, "year": year}).status_code == 201


def test_create_get_replace_patch_delete(client):
    created = client.post("/volumes", json={"title": "Dune", "year": 1965})
    assert created.status_code == 201
    volume = created.json()
    assert volume == {"id": 1, "title": "Dune", "year": 1965, "shelf_id": None}
    assert client.get("/volumes/1").json() == volume
    replaced = client.put("/volumes/1", json={"title": "Dune Messiah", "year": 1969})
    assert replaced.json()["title"] == "Dune Messiah"
    patched = client.patch("/volumes/1", json={"year": 1970})
    assert patched.json() == {"id": 1, "title": "Dune Messiah", "year": 1970, "shelf_id": None}
    assert client.delete("/volumes/1").status_code == 204
    assert client.get("/volumes/1").status_code == 404


def test_if_match_stops_lost_updates(client):
    """Two clients read version A; the first writes B with If-Match: A, the second's write
    with If-Match: A is refused with 412 instead of silently overwriting B."""
    created = client.post("/volumes", json={"title": "Dune", "year": 1965})
    version_a = created.headers["etag"]
    assert client.get("/volumes/1").headers["etag"] == version_a
    first = client.patch("/volumes/1", json={"year": 1966}, headers={"if-match": version_a})
    version_b = first.headers["etag"]
    assert first.status_code == 200 and version_b != version_a
    late = client.put("/volumes/1", json={"title": "Mine", "year": 2000},
                      headers={"if-match": version_a})
    assert late.status_code == 412
    assert late.headers["content-type"] == "application/problem+json"
    assert version_b in late.json()["detail"]
    assert client.delete("/volumes/1", headers={"if-match": version_a}).status_code == 412
    assert client.get("/volumes/1").json()["year"] == 1966  # nothing was overwritten
    assert client.patch("/volumes/1", json={"year": 1967},
                        headers={"if-match": f'"other", {version_b}'}).status_code == 200
    assert client.patch("/volumes/1", json={"year": 1968}, headers={"if-match": "*"}).status_code == 200
    assert client.patch("/volumes/1", json={"year": 1969}).status_code == 200  # no If-Match: as before
    assert client.delete("/volumes/1", headers={"if-match": '"nope"'}).status_code == 412


def items(response):
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_offset_pagination_is_stable(client):
    seed(client)
    first = client.get("/volumes").json()
    assert first["total"] == 4 and first["prev"] is None
    assert first["next"] == "/volumes?offset=2"
    second = client.get(first["next"]).json()
    assert [v["id"] for v in first["items"] + second["items"]] == [1, 2, 3, 4]
    assert second["next"] is None and second["prev"] == "/volumes"


def test_keyset_pagination(client):
    seed(client)
    page = client.get("/volumes?after=1&limit=2").json()
    assert [v["id"] for v in page["items"]] == [2, 3]
    assert page["next"] == "/volumes?limit=2&after=3" and page["prev"] is None
    assert [v["id"] for v in items(client.get(page["next"]))] == [4]


def test_links_keep_the_filters_and_sort(client):
    seed(client)
    page = client.get("/volumes?sort=-year&limit=1&offset=1").json()
    assert page["total"] == 4
    assert page["next"] == "/volumes?sort=-year&limit=1&offset=2"
    assert page["prev"] == "/volumes?sort=-year&limit=1"


def test_sort_and_filter_from_allow_lists(client):
    seed(client)
    assert [v["title"] for v in items(client.get("/volumes?sort=title&limit=10"))] == [
        "Beloved", "Dune", "Emma", "Ubik"]
    assert [v["year"] for v in items(client.get("/volumes?sort=-year&limit=2"))] == [1987, 1969]
    assert [v["title"] for v in items(client.get("/volumes?year=1969"))] == ["Ubik"]
    assert client.get("/volumes?year=1969").json()["total"] == 1
    bad = client.get("/volumes?sort=password")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.sort"


def test_validation_conflict_missing_and_bad_reference(client):
    assert client.post("/volumes", json={"title": "x" * 101, "year": 1}).status_code == 422
    assert client.post("/volumes", json={"title": "A", "year": 1}).status_code == 201
    conflict = client.post("/volumes", json={"title": "A", "year": 2})
    assert conflict.status_code == 409
    assert client.get("/volumes/99").status_code == 404
    assert client.patch("/volumes/99", json={"year": 1}).status_code == 404
    bad_ref = client.post("/volumes", json={"title": "B", "year": 1, "shelf_id": 42})
    assert bad_ref.status_code == 422


INJECTIONS = [
    "1 OR 1=1", "1; DROP TABLE volumes; --", "' OR '1'='1", "\" OR \"\"=\"", "1)) OR ((1=1",
    "title", "-title; DELETE FROM volumes", "id desc", "(SELECT 1)", "%27%20OR%201%3D1",
    "1 UNION SELECT * FROM shelves", "0x31", "../../etc/passwd", "\\x00", "𝕏",
]


@pytest.mark.parametrize("parameter", ["limit", "offset", "after", "sort", "year", "title"])
def test_sql_injection_payloads_are_4xx_or_harmless(client, parameter):
    seed(client)
    for payload in INJECTIONS:
        response = client.get("/volumes", params={parameter: payload})
        assert response.status_code in (200, 400, 422), (parameter, payload, response.text)
        if response.status_code == 200:
            assert response.json()["items"] == [] or parameter in ("title", "sort")
    assert client.get("/volumes?limit=100").json()["total"] == 4  # the table is unchanged


def test_unknown_filter_column_fails_at_startup():
    with pytest.raises(ConfigurationError, match="no column 'secret'"):
        CRUDRouter(Volume, filters=["secret"])
