import asyncio

import pytest

from bastion import App, Request, Settings, StreamingResponse
from bastion.testing import AsyncTestClient, TestClient


def make_app(**kwargs) -> App:
    app = App(settings=Settings(profile="test"), **kwargs)

    @app.get("/echo")
    async def echo(request: Request) -> dict:
        return {
            "query": dict(request.query_params),
            "header": request.headers.get("x-test"),
            "cookie": request.cookies.get("c"),
        }

    @app.post("/body")
    async def body(request: Request) -> dict:
        return {"size": len(await request.body())}

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("kaboom")

    @app.get("/cookie")
    async def set_cookie() -> object:
        from bastion import TextResponse

        response = TextResponse("set")
        response.set_cookie("c", "v1", secure=False)
        return response

    return app


def test_query_headers_cookies():
    client = TestClient(make_app())
    client.cookies.set("c", "jar")
    response = client.get("/echo", params={"a": "1"}, headers={"x-test": "h"})
    assert response.json() == {"query": {"a": "1"}, "header": "h", "cookie": "jar"}


def test_cookies_persist_between_requests():
    client = TestClient(make_app())
    client.get("/cookie")
    assert client.get("/echo").json()["cookie"] == "v1"


def test_post_body():
    assert TestClient(make_app()).post("/body", content=b"12345").json() == {"size": 5}


def test_server_exceptions_are_raised_by_default():
    with pytest.raises(RuntimeError, match="kaboom"):
        TestClient(make_app()).get("/boom")


def test_server_exceptions_can_become_500():
    response = TestClient(make_app(), raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500


def test_lifespan_runs_only_with_the_context_manager():
    events = []
    app = make_app(on_startup=[lambda: events.append("up")], on_shutdown=[lambda: events.append("down")])
    TestClient(app).get("/echo")
    assert events == []
    with TestClient(app):
        assert events == ["up"]
    assert events == ["up", "down"]


def test_streaming_is_read_incrementally():
    app = App(settings=Settings(profile="test"))
    gate = asyncio.Event()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks():
            yield b"first"
            await asyncio.wait_for(gate.wait(), 5)  # never set: the client must stop early
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    client = TestClient(app)
    with client.stream("GET", "/stream") as response:
        first = next(response.iter_bytes())
    assert first == b"first"


async def test_async_client_with_lifespan():
    events = []
    app = make_app(on_startup=[lambda: events.append("up")])
    async with AsyncTestClient(app) as client:
        response = await client.get("/echo", params={"q": "x"})
        assert response.json()["query"] == {"q": "x"}
    assert events == ["up"]


def test_pytest_plugin_fixtures(pytester):
    pytester.makeconftest(
        """
import pytest
from bastion import App, Settings

@pytest.fixture
def app():
    app = App(settings=Settings(profile="test"))
    app.get("/ping")(lambda: "pong")
    return app
"""
    )
    pytester.makepyfile(
        """
def test_ping(client):
    assert client.get("/ping").text == "pong"

async def test_async_ping(async_client):
    assert (await async_client.get("/ping")).text == "pong"
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=2)


def test_pytest_plugin_explains_missing_app(pytester):
    pytester.makepyfile("def test_x(client):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*define one in your conftest.py*"])
