import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from bastion import App, ConfigurationError, HTTPError, JSONResponse, NotFound, Request, Settings
from bastion.testing import TestClient


def make_app(**kwargs) -> App:
    return App(settings=Settings(profile="test"), **kwargs)


def test_startup_and_shutdown_hooks_and_lifespan_order():
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("lifespan enter")
        yield
        events.append("lifespan exit")

    app = make_app(
        lifespan=lifespan,
        on_startup=[lambda: events.append("startup")],
        on_shutdown=[lambda: events.append("shutdown")],
    )
    app.get("/")(lambda: "ok")
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
        assert events == ["startup", "lifespan enter"]
    assert events == ["startup", "lifespan enter", "shutdown", "lifespan exit"]


def test_typed_state():
    @dataclass
    class State:
        greeting: str = "hello"

    app: App[State] = App(settings=Settings(profile="test"), state=State())

    @app.get("/")
    async def handler(request: Request) -> str:
        return request.app.state.greeting

    assert app.state.greeting == "hello"
    assert TestClient(app).get("/").text == "hello"


def test_startup_failure_is_reported():
    async def boom():
        raise RuntimeError("database unreachable")

    app = make_app(on_startup=[boom])
    with pytest.raises(Exception, match="database unreachable"), TestClient(app):
        pass


def test_async_lifespan_context_manager_outside_a_server():
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("in")
        yield
        events.append("out")

    import asyncio

    async def main():
        app = make_app(lifespan=lifespan)
        async with app.lifespan():
            assert events == ["in"]

    asyncio.run(main())
    assert events == ["in", "out"]


def test_http_error_is_problem_json():
    app = make_app()

    @app.get("/teapot")
    async def teapot() -> str:
        raise HTTPError("short and stout", status_code=418, headers={"x-pot": "1"})

    response = TestClient(app).get("/teapot")
    assert response.status_code == 418
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-pot"] == "1"
    assert response.json() == {
        "type": "about:blank",
        "title": "I'm a Teapot",
        "status": 418,
        "detail": "short and stout",
    }


def test_unexpected_error_in_prod_says_nothing_and_is_logged(caplog):
    app = App(settings=Settings(profile="prod", secret_key="k" * 40))

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("password=hunter2")

    with caplog.at_level(logging.ERROR, logger="bastion.error"):
        response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any("RuntimeError" in r.getMessage() or r.exc_info for r in caplog.records)


def test_dev_debug_page_shows_the_traceback():
    app = App(settings=Settings(profile="dev"))

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("something <broke>")

    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/boom", headers={"accept": "text/html"})
    assert page.status_code == 500
    assert "text/html" in page.headers["content-type"]
    assert "something &lt;broke&gt;" in page.text
    assert "Traceback" in page.text
    api = client.get("/boom", headers={"accept": "application/json"})
    assert api.json()["detail"] == "RuntimeError: something <broke>"


def test_custom_exception_handler_by_type():
    class OutOfStock(Exception):
        pass

    app = make_app()

    @app.exception_handler(OutOfStock)
    async def out_of_stock(request: Request, exc: OutOfStock) -> JSONResponse:
        return JSONResponse({"error": "out of stock"}, status_code=409)

    @app.get("/buy")
    async def buy() -> str:
        raise OutOfStock()

    response = TestClient(app).get("/buy")
    assert response.status_code == 409
    assert response.json() == {"error": "out of stock"}


def test_custom_not_found_handler_sees_unknown_paths():
    app = make_app()

    @app.exception_handler(NotFound)
    def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"missing": request.path}, status_code=404)

    assert TestClient(app).get("/nowhere").json() == {"missing": "/nowhere"}


def test_prod_profile_refuses_to_start_without_a_secret_key():
    with pytest.raises(ConfigurationError, match="secret key"):
        App(settings=Settings.load(profile="prod", environ={}))


def test_plugin_adds_routes_and_providers():
    class Greeter:
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

    class GreeterPlugin:
        def on_app_init(self, app: App) -> None:
            app.provide(Greeter, lambda: Greeter("hi"))
            app.get("/plugin")(lambda: "from plugin")

    app = make_app(plugins=[GreeterPlugin()])

    @app.get("/greet")
    async def greet(greeter: Greeter) -> str:
        return greeter.greeting

    client = TestClient(app)
    assert client.get("/plugin").text == "from plugin"
    assert client.get("/greet").text == "hi"


def test_object_without_on_app_init_is_not_a_plugin():
    with pytest.raises(ConfigurationError, match="on_app_init"):
        make_app(plugins=[object()])


def test_body_over_the_limit_is_413():
    app = App(settings=Settings(profile="test", max_body_size=10))

    @app.post("/upload")
    async def upload(request: Request) -> dict:
        return {"size": len(await request.body())}

    client = TestClient(app)
    assert client.post("/upload", content=b"x" * 10).json() == {"size": 10}
    response = client.post("/upload", content=b"x" * 11)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_chunked_body_over_the_limit_is_413():
    app = App(settings=Settings(profile="test", max_body_size=10))

    @app.post("/upload")
    async def upload(request: Request) -> dict:
        return {"size": len(await request.body())}

    def chunks():
        yield b"x" * 6
        yield b"x" * 6

    assert TestClient(app).post("/upload", content=chunks()).status_code == 413


def test_a_route_mistake_fails_the_start_up_instead_of_every_request():
    """Raised while the lifespan starts, servers would take it for "lifespan unsupported"
    and serve 500s; it is reported as ``startup.failed`` instead."""

    class Unknown:
        pass

    app = App(settings=Settings(profile="test"))

    @app.get("/x")
    async def x(thing: Unknown) -> str:
        return ""

    with pytest.raises(RuntimeError, match="nothing provides Unknown"):
        with TestClient(app):
            pass


def test_a_route_sets_its_own_body_limit_above_or_below_the_apps():
    app = App(settings=Settings(profile="test", max_body_size=10))

    @app.post("/upload", max_body_size=100)
    async def upload(request: Request) -> dict:
        return {"size": len(await request.body())}

    @app.post("/hook", max_body_size=5)
    async def hook(body: dict) -> dict:
        return body

    client = TestClient(app)
    assert client.post("/upload", content=b"x" * 100).json() == {"size": 100}
    assert client.post("/upload", content=b"x" * 101).status_code == 413
    assert client.post("/hook", json={}).status_code == 201
    refused = client.post("/hook", json={"a": 1})
    assert refused.status_code == 413 and "limit of 5 bytes" in refused.json()["detail"]


@pytest.mark.parametrize("limit", [0, -1, "1mb", True])
def test_a_bad_route_body_limit_fails_at_start_up(limit):
    app = App(settings=Settings(profile="test"))
    app.post("/upload", max_body_size=limit)(lambda: None)
    with pytest.raises(RuntimeError, match="startup failed: ConfigurationError: .*max_body_size"):
        with TestClient(app):
            pass


@pytest.mark.parametrize("profile", ["prod", "test"])
def test_a_production_server_freezes_its_startup_objects(profile: str) -> None:
    """After a production start-up the garbage collector no longer rescans what was built
    (gc.freeze); tests and development keep the collector as it is."""
    import gc

    app = App(settings=Settings(profile=profile, secret_key="s" * 40))
    gc.unfreeze()
    try:
        with TestClient(app):
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert (frozen > 0) == (profile == "prod")


def test_a_failed_startup_leaves_the_contexts_that_did_start():
    """Nobody calls shutdown() after a failed start-up, so start-up itself leaves what had
    started (a model's workers, a session manager) instead of leaking it."""
    import asyncio

    events = []

    @asynccontextmanager
    async def opened(app):
        events.append("opened")
        yield
        events.append("closed")

    @asynccontextmanager
    async def broken(app):
        raise ConfigurationError("port in use")
        yield

    async def main():
        app = make_app(lifespan=opened)
        app.lifespan_contexts.append(broken)
        with pytest.raises(ConfigurationError, match="port in use"):
            async with app.lifespan():
                pass
        assert events == ["opened", "closed"]
        app.lifespan_contexts.remove(broken)
        async with app.lifespan():  # and it can be started again, once fixed
            assert events == ["opened", "closed", "opened"]

    asyncio.run(main())


def test_the_app_sends_plain_responses_and_leaves_custom_ones_to_their_own_call():
    """Response classes that keep ``Response.__call__`` are sent by the app from their
    ``messages()``; a class with its own ``__call__`` still sends itself."""
    from bastion.http.response import SENT_BY_MESSAGES, Response

    class Shouting(Response):  # keeps __call__: the app sends its messages
        def messages(self, method):
            start, body = super().messages(method)
            return start, {**body, "body": body["body"].upper()}

    class SelfSending(Response):
        async def __call__(self, scope, receive, send):
            await send({"type": "http.response.start", "status": 299, "headers": []})
            await send({"type": "http.response.body", "body": b"sent by myself"})

    assert Shouting in SENT_BY_MESSAGES and SelfSending not in SENT_BY_MESSAGES
    app = App()

    @app.get("/shout")
    async def shout() -> Response:
        return Shouting(b"quiet")

    @app.get("/self")
    async def self_sending() -> Response:
        return SelfSending()

    @app.get("/empty")
    async def empty() -> None:
        return None

    with TestClient(app) as client:
        assert client.get("/shout").content == b"QUIET"
        answer = client.get("/self")
        assert (answer.status_code, answer.content) == (299, b"sent by myself")
        head = client.head("/shout")
        assert (head.content, head.headers["content-length"]) == (b"", "5")
        no_content = client.get("/empty")
        assert no_content.status_code == 204 and "content-length" not in no_content.headers
