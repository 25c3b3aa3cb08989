
import pytest

from bastion import App, ConfigurationError, Settings, StreamingResponse
from bastion.middleware import CORS, GZip, RequestId, ServerTiming, TrustedHost
from bastion.testing import TestClient

BIG = "x" * 2000


def app_with(*middleware, **kwargs) -> App:
    app = App(settings=Settings(profile="test"), middleware=list(middleware), **kwargs)
    app.get("/")(lambda: {"ok": True})
    app.get("/big")(lambda: BIG)
    app.post("/echo")(lambda: "posted")
    return app


# -- CORS --------------------------------------------------------------------------------------
def test_cors_simple_request_wildcard():
    response = TestClient(app_with(CORS())).get("/", headers={"origin": "https://a.example"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_cors_without_origin_adds_nothing():
    response = TestClient(app_with(CORS())).get("/")
    assert "access-control-allow-origin" not in response.headers


def test_cors_listed_origin_is_echoed_with_vary():
    client = TestClient(app_with(CORS(allow_origins=["https://a.example"], allow_credentials=True)))
    response = client.get("/", headers={"origin": "https://a.example"})
    assert response.headers["access-control-allow-origin"] == "https://a.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "origin"
    other = client.get("/", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_cors_origin_regex():
    client = TestClient(app_with(CORS(allow_origins=[], allow_origin_regex=r"https://.*\.example")))
    assert client.get("/", headers={"origin": "https://x.example"}).headers["access-control-allow-origin"] == "https://x.example"


def test_cors_preflight_is_answered():
    client = TestClient(app_with(CORS(allow_headers=["x-token"], max_age=99)))
    response = client.options("/echo", headers={
        "origin": "https://a.example", "access-control-request-method": "POST",
        "access-control-request-headers": "X-Token",
    })
    assert response.status_code == 204
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "x-token"
    assert response.headers["access-control-max-age"] == "99"


@pytest.mark.parametrize("headers, reason", [
    ({"access-control-request-method": "TRACE"}, "method TRACE not allowed"),
    ({"access-control-request-method": "GET", "access-control-request-headers": "x-evil"}, "headers not allowed"),
])
def test_cors_bad_preflight_is_400(headers, reason):
    client = TestClient(app_with(CORS()))
    response = client.options("/", headers={"origin": "https://a.example", **headers})
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_cors_preflight_from_unlisted_origin_is_400():
    client = TestClient(app_with(CORS(allow_origins=["https://a.example"])))
    response = client.options("/", headers={"origin": "https://b.example", "access-control-request-method": "GET"})
    assert response.status_code == 400


def test_cors_wildcard_with_credentials_is_refused():
    with pytest.raises(ConfigurationError, match="allow_credentials"):
        CORS(allow_origins=["*"], allow_credentials=True)


def test_cors_at_route_level_sees_preflight():
    app = App(settings=Settings(profile="test"))
    app.get("/r", middleware=[CORS()])(lambda: "r")
    response = TestClient(app).options("/r", headers={"origin": "https://a", "access-control-request-method": "GET"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"


# -- GZip --------------------------------------------------------------------------------------
def test_gzip_compresses_big_bodies():
    response = TestClient(app_with(GZip())).get("/big", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "accept-encoding"
    assert response.text == BIG  # httpx decodes it
    assert int(response.headers["content-length"]) < 100


def test_gzip_skips_small_bodies_and_refusing_clients():
    client = TestClient(app_with(GZip()))
    assert "content-encoding" not in client.get("/", headers={"accept-encoding": "gzip"}).headers
    assert "content-encoding" not in client.get("/big", headers={"accept-encoding": "identity"}).headers
    assert "content-encoding" not in client.get("/big", headers={"accept-encoding": "gzip;q=0"}).headers


def test_gzip_streams_chunk_by_chunk():
    app = App(settings=Settings(profile="test"), middleware=[GZip()])

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks():
            for i in range(3):
                yield f"chunk {i} " * 100

        return StreamingResponse(chunks(), media_type="text/plain")

    response = TestClient(app).get("/stream", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "".join(f"chunk {i} " * 100 for i in range(3))


def test_gzip_skips_event_streams():
    app = App(settings=Settings(profile="test"), middleware=[GZip()])

    @app.get("/sse")
    async def sse() -> StreamingResponse:
        return StreamingResponse(iter(["data: x\n\n" * 200]), media_type="text/event-stream")

    assert "content-encoding" not in TestClient(app).get("/sse", headers={"accept-encoding": "gzip"}).headers


# -- TrustedHost ---------------------------------------------------------------------------------
@pytest.mark.parametrize("host, allowed", [
    ("example.com", True), ("example.com:8000", True), ("api.example.com", True),
    ("evil.com", False), ("example.com.evil.com", False), ("[::1]:8000", True),
])
def test_trusted_host(host, allowed):
    client = TestClient(app_with(TrustedHost(["example.com", "*.example.com", "[::1]"])))
    response = client.get("/", headers={"host": host})
    assert (response.status_code == 200) is allowed
    if not allowed:
        assert response.status_code == 400
        assert response.json()["detail"] == "Invalid host header"


# -- RequestId / ServerTiming --------------------------------------------------------------------
def test_request_id_generated_and_reused():
    client = TestClient(app_with(RequestId()))
    generated = client.get("/").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize("bad", ["a" * 200, "id with spaces", "id\u00e9", "x;y"])
def test_unsafe_incoming_request_id_is_replaced(bad):
    response = TestClient(app_with(RequestId())).get("/", headers={"x-request-id": bad.encode("utf-8")})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 32


def test_request_id_is_in_logged_500s(caplog):
    app = App(settings=Settings(profile="prod", secret_key="s" * 40), middleware=[RequestId()])

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("x")

    response = TestClient(app, raise_server_exceptions=False).get("/boom", headers={"x-request-id": "req-42"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "req-42"
    assert any("req-42" in record.getMessage() for record in caplog.records)


def test_server_timing():
    value = TestClient(app_with(ServerTiming())).get("/").headers["server-timing"]
    assert value.startswith("app;dur=")
    assert float(value.split("=")[1]) >= 0
