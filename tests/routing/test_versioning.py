"""API versioning: by URL prefix, by header and by media-type parameter; routes per version
range; Deprecation (RFC 9745) and Sunset (RFC 8594) headers; one OpenAPI document per version
and Swagger UI's selector; unknown versions answered with the versions that exist."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from openapi_spec_validator import validate

from bastion import App, ConfigurationError, Router, Settings
from bastion.routing.versioning import Version, Versioning, VersionRange
from bastion.testing import TestClient

DEPRECATED = datetime(2026, 1, 1, tzinfo=UTC)
SUNSET = date(2027, 6, 30)


def make_app(by: str, **options) -> App[object]:
    versioning = Versioning(
        [
            Version("1", deprecated=DEPRECATED, sunset=SUNSET, link="https://example.com/v2"),
            "2",
            "3",
        ],
        by=by,  # type: ignore[arg-type]
        **options,
    )
    app = App(settings=Settings(profile="test"), versioning=versioning)

    @app.get("/items/{item_id:int}", versions="1")
    async def item_v1(item_id: int) -> dict[str, object]:
        return {"id": item_id, "v": 1}

    @app.get("/items/{item_id:int}", versions=VersionRange(since="2"))
    async def item_v2(item_id: int) -> dict[str, object]:
        return {"item_id": item_id, "v": "2+"}

    @app.post("/items", versions=["1", "2"])
    async def create(name: str) -> dict[str, str]:
        return {"name": name}

    v3 = Router("/reports", versions="3")

    @v3.get("/daily")
    async def daily() -> dict[str, int]:
        return {"rows": 3}

    app.include(v3)

    @app.get("/health")
    async def health() -> str:
        return "ok"

    return app


def test_prefix_strategy_routes_each_version():
    client = TestClient(make_app("prefix"))
    assert client.get("/v1/items/5").json() == {"id": 5, "v": 1}
    assert client.get("/v2/items/5").json() == {"item_id": 5, "v": "2+"}
    assert client.get("/v3/items/5").json() == {"item_id": 5, "v": "2+"}
    assert client.post("/v2/items?name=a").status_code == 201
    assert client.get("/v3/reports/daily").json() == {"rows": 3}
    assert client.get("/health").text == "ok"  # version-neutral, unprefixed
    assert client.get("/items/5").status_code == 404


def test_prefix_strategy_deprecation_and_sunset_headers():
    client = TestClient(make_app("prefix"))
    old = client.get("/v1/items/5")
    assert old.headers["deprecation"] == f"@{int(DEPRECATED.timestamp())}" == "@1767225600"
    assert old.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert old.headers["link"] == '<https://example.com/v2>; rel="deprecation"'
    current = client.get("/v2/items/5")
    assert "deprecation" not in current.headers and "sunset" not in current.headers


def test_prefix_strategy_unknown_version_names_the_versions():
    client = TestClient(make_app("prefix"))
    response = client.get("/v9/items/5")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["versions"] == ["1", "2", "3"]
    assert "'9' does not exist" in problem["detail"] and "/v3" in problem["detail"]
    missing = client.post("/v3/items?name=a")
    assert missing.status_code == 404 and missing.json()["versions"] == ["1", "2"]
    not_in = client.get("/v1/reports/daily").json()
    assert not_in["versions"] == ["3"]
    assert "not in API version 1" in not_in["detail"]
    assert "versions" not in client.get("/nothing/here").json()  # a plain 404 stays plain


def test_header_strategy():
    client = TestClient(make_app("header"))
    assert client.get("/items/5", headers={"api-version": "1"}).json() == {"id": 5, "v": 1}
    assert client.get("/items/5", headers={"api-version": "2"}).json()["v"] == "2+"
    latest = client.get("/items/5")  # no header: the default, the latest
    assert latest.json()["v"] == "2+"
    assert latest.headers["vary"] == "api-version"
    old = client.get("/items/5", headers={"api-version": "1"})
    assert old.headers["deprecation"] == "@1767225600"
    assert old.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert client.get("/reports/daily", headers={"api-version": "3"}).json() == {"rows": 3}
    assert client.get("/health", headers={"api-version": "banana"}).text == "ok"


def test_header_strategy_unknown_version_and_missing_route():
    client = TestClient(make_app("header"))
    unknown = client.get("/items/5", headers={"api-version": "9"})
    assert unknown.status_code == 400
    assert unknown.json()["versions"] == ["1", "2", "3"]
    assert "API-Version: 3" in unknown.json()["detail"]
    absent = client.get("/reports/daily", headers={"api-version": "1"})
    assert absent.status_code == 404
    assert absent.json()["versions"] == ["3"]
    # create exists in 1 and 2 only; the default (3) does not have it.
    assert client.post("/items?name=a").status_code == 404
    assert client.post("/items?name=a", headers={"api-version": "2"}).status_code == 201


def test_header_strategy_with_a_default_and_header_name():
    client = TestClient(make_app("header", header="X-API", default="1"))
    assert client.get("/items/5").json()["v"] == 1
    assert client.get("/items/5", headers={"x-api": "3"}).json()["v"] == "2+"


def test_media_type_strategy():
    client = TestClient(make_app("media_type"))
    v1 = client.get("/items/5", headers={"accept": "application/json; version=1"})
    assert v1.json() == {"id": 5, "v": 1}
    assert v1.headers["deprecation"] == "@1767225600"
    assert v1.headers["vary"] == "accept"
    v2 = client.get("/items/5", headers={"accept": 'application/json;version="2"'})
    assert v2.json()["v"] == "2+" and "deprecation" not in v2.headers
    assert client.get("/items/5", headers={"accept": "application/json"}).json()["v"] == "2+"
    unknown = client.get("/items/5", headers={"accept": "application/json; version=7"})
    assert unknown.status_code == 406
    assert unknown.json()["versions"] == ["1", "2", "3"]
    assert "version=3" in unknown.json()["detail"]


@pytest.mark.parametrize("by", ["prefix", "header", "media_type"])
def test_one_openapi_document_per_version(by):
    client = TestClient(make_app(by))
    docs = {v: client.get(f"/openapi/{v}.json").json() for v in ("1", "2", "3")}
    prefix = {"1": "/v1", "2": "/v2", "3": "/v3"} if by == "prefix" else dict.fromkeys("123", "")
    for version, document in docs.items():
        validate(document)
        assert document["info"]["version"] == version
        assert "/health" in document["paths"]
        assert f"{prefix[version]}/items/{{item_id}}" in document["paths"]
    assert f"{prefix['1']}/items" in docs["1"]["paths"]
    assert f"{prefix['3']}/items" not in docs["3"]["paths"]
    assert f"{prefix['3']}/reports/daily" in docs["3"]["paths"]
    assert f"{prefix['1']}/reports/daily" not in docs["1"]["paths"]
    v1_item = docs["1"]["paths"][f"{prefix['1']}/items/{{item_id}}"]["get"]
    v2_item = docs["2"]["paths"][f"{prefix['2']}/items/{{item_id}}"]["get"]
    assert v1_item["deprecated"] is True and "deprecated" not in v2_item
    assert v1_item["operationId"] == "item_v1" and v2_item["operationId"] == "item_v2"
    if by == "header":
        header = v1_item["parameters"][0]
        assert header["name"] == "API-Version" and header["in"] == "header"
        assert header["schema"]["enum"] == ["1"]
    if by == "media_type":
        assert "version=1" in docs["1"]["info"]["description"]
    # /openapi.json is the default (latest) version's document.
    assert client.get("/openapi.json").json() == docs["3"]


def test_docs_page_has_a_version_selector():
    page = TestClient(make_app("header", default="2")).get("/docs").text
    assert (
        'urls: [{"name": "v2", "url": "/openapi/2.json"}, {"name": "v1", "url": '
        '"/openapi/1.json"}, {"name": "v3", "url": "/openapi/3.json"}]'
    ) in page
    unversioned = App(settings=Settings(profile="test"))
    assert "urls:" not in TestClient(unversioned).get("/docs").text


def test_misconfigurations_fail_at_start_up():
    app = App(settings=Settings(profile="test"))

    @app.get("/x", versions="1")
    async def x() -> str:
        return "x"

    with pytest.raises(ConfigurationError, match="has no versioning"):
        TestClient(app).get("/x")

    versioned = App(settings=Settings(profile="test"), versioning=Versioning(["1", "2"]))

    @versioned.get("/y", versions="4")
    async def y() -> str:
        return "y"

    with pytest.raises(ConfigurationError, match="'4', which is not one of"):
        TestClient(versioned).get("/v1/y")
    for bad in (
        lambda: Versioning([]),
        lambda: Versioning(["1", "1"]),
        lambda: Versioning(["1"], by="query"),  # type: ignore[arg-type]
        lambda: Versioning(["1"], prefix="/api"),
        lambda: Versioning(["1"], default="2"),
    ):
        with pytest.raises(ConfigurationError):
            bad()


def test_unversioned_apps_are_unchanged():
    app = App(settings=Settings(profile="test"))

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    client = TestClient(app)
    assert client.get("/items/1").json() == {"id": 1}
    assert app.versioning is None
    assert [
        c.endpoint.__name__ for c in app.compiled if c.route.path == "/items/{item_id:int}"
    ] == ["endpoint"]


def test_media_type_versions_work_with_content_negotiation():
    import msgspec

    from bastion import JSON_ENCODER, MSGPACK_ENCODER

    app = App(
        settings=Settings(profile="test"),
        versioning=Versioning(["1", "2"], by="media_type"),
        encoders=[JSON_ENCODER, MSGPACK_ENCODER],
    )

    @app.get("/n", versions="1")
    async def n1() -> dict[str, int]:
        return {"v": 1}

    @app.get("/n", versions="2")
    async def n2() -> dict[str, int]:
        return {"v": 2}

    client = TestClient(app)
    packed = client.get("/n", headers={"accept": "application/msgpack; version=1"})
    assert packed.headers["content-type"] == "application/msgpack"
    assert msgspec.msgpack.decode(packed.content) == {"v": 1}
    assert client.get("/n", headers={"accept": "application/json; version=2"}).json() == {"v": 2}
