from bastion import App, ASGIMiddleware, Router, Settings
from bastion.testing import TestClient


def make_app(**kwargs) -> App:
    return App(settings=Settings(profile="test"), **kwargs)


def tag(name, log):
    async def mw(request, call_next):
        log.append(f"{name} in")
        response = await call_next(request)
        log.append(f"{name} out")
        response.headers.append("x-trail", name)
        return response

    return mw


def test_onion_order_app_router_route():
    log = []
    router = Router("/r", middleware=[tag("router", log)])

    @router.get("/x", middleware=[tag("route", log)])
    async def x() -> str:
        log.append("handler")
        return "x"

    app = make_app(middleware=[tag("app", log)])
    app.include(router)
    response = TestClient(app).get("/r/x")
    assert log == [
        "app in",
        "router in",
        "route in",
        "handler",
        "route out",
        "router out",
        "app out",
    ]
    assert response.headers.get_list("x-trail") == ["route", "router", "app"]


def test_every_way_of_writing_the_two_parameters_is_called_the_same():
    """call_next is bound by name where it can be, by position where it cannot."""
    log = []

    async def any_name(request, nxt):
        log.append("any_name")
        return await nxt(request)

    async def positional_only(request, call_next, /):
        log.append("positional_only")
        return await call_next(request)

    async def star_args(*args):
        log.append("star_args")
        return await args[1](args[0])

    class Instance:
        async def __call__(self, request, call_next):
            log.append("instance")
            return await call_next(request)

    app = make_app()
    stack = [any_name, positional_only, star_args, Instance()]
    app.get("/", middleware=stack)(lambda: "ok")
    response = TestClient(app).get("/")
    assert response.text == "ok"
    assert log == ["any_name", "positional_only", "star_args", "instance"]


def test_app_middleware_sees_not_found():
    log = []
    app = make_app(middleware=[tag("app", log)])
    response = TestClient(app).get("/missing")
    assert response.status_code == 404
    assert log == ["app in", "app out"]


def test_middleware_can_short_circuit():
    from bastion import TextResponse

    async def deny(request, call_next):
        return TextResponse("denied", status_code=403)

    app = make_app()
    app.get("/", middleware=[deny])(lambda: "never")
    response = TestClient(app).get("/")
    assert response.status_code == 403
    assert response.text == "denied"


class AddHeader:
    """A raw ASGI middleware."""

    def __init__(self, app, value: str = "asgi") -> None:
        self.app = app
        self.value = value

    async def __call__(self, scope, receive, send):
        async def wrapped(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-asgi", self.value.encode())]
            await send(message)

        await self.app(scope, receive, wrapped)


def test_raw_asgi_middleware_at_app_level():
    app = make_app(middleware=[ASGIMiddleware(AddHeader, value="app")])
    app.get("/")(lambda: "ok")
    assert TestClient(app).get("/").headers["x-asgi"] == "app"


def test_raw_asgi_middleware_at_route_level():
    app = make_app()
    app.get("/with", middleware=[AddHeader])(lambda: "with")
    app.get("/without")(lambda: "without")
    client = TestClient(app)
    assert client.get("/with").headers["x-asgi"] == "asgi"
    assert "x-asgi" not in client.get("/without").headers


def test_route_level_asgi_middleware_still_renders_errors():
    from bastion import NotFound

    app = make_app()

    @app.get("/err", middleware=[AddHeader])
    async def err() -> str:
        raise NotFound("gone")

    response = TestClient(app).get("/err")
    assert response.status_code == 404
    assert response.headers["x-asgi"] == "asgi"


def test_exception_in_asgi_middleware_becomes_500():
    class Broken:
        def __init__(self, app) -> None:
            self.app = app

        async def __call__(self, scope, receive, send):
            raise RuntimeError("broken middleware")

    app = make_app(middleware=[Broken])
    app.get("/")(lambda: "ok")
    response = TestClient(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"


def test_middleware_sees_error_responses_from_handlers():
    from bastion import NotFound
    from bastion.middleware import RequestId

    log = []
    app = make_app(middleware=[RequestId(), tag("app", log)])

    @app.get("/missing-thing")
    async def missing() -> str:
        raise NotFound("no such thing")

    @app.get("/crash")
    async def crash() -> str:
        raise RuntimeError("bug")

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/missing-thing", headers={"x-request-id": "r-1"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "r-1"
    assert response.headers["x-trail"] == "app"
    crashed = client.get("/crash", headers={"x-request-id": "r-2"})
    assert crashed.status_code == 500
    assert crashed.headers["x-request-id"] == "r-2"
    assert crashed.json()["request_id"] == "r-2"
