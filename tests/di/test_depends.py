from typing import Annotated

import pytest

from bastion import App, ConfigurationError, Depends, HTTPError, Query, Request, Router, Settings
from bastion.testing import TestClient


def make_app(**kwargs) -> App:
    return App(settings=Settings(profile="test"), **kwargs)


def test_sync_and_async_dependencies():
    def sync_dep() -> int:
        return 1

    async def async_dep() -> int:
        return 2

    app = make_app()

    @app.get("/")
    async def both(
        a: Annotated[int, Depends(sync_dep)], b: Annotated[int, Depends(async_dep)]
    ) -> dict:
        return {"a": a, "b": b}

    assert TestClient(app).get("/").json() == {"a": 1, "b": 2}


def test_sub_dependencies_and_request_params():
    async def pagination(limit: Annotated[int, Query(ge=1, le=50)] = 10, offset: int = 0) -> dict:
        return {"limit": limit, "offset": offset}

    async def listing(page: Annotated[dict, Depends(pagination)]) -> list:
        return list(range(page["offset"], page["offset"] + page["limit"]))

    app = make_app()

    @app.get("/numbers")
    async def numbers(items: Annotated[list, Depends(listing)]) -> list:
        return items

    client = TestClient(app)
    assert client.get("/numbers?limit=3&offset=5").json() == [5, 6, 7]
    bad = client.get("/numbers?limit=99")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.limit"


def test_dependency_is_cached_per_request():
    calls = []

    async def counter() -> int:
        calls.append(1)
        return len(calls)

    async def a(n: Annotated[int, Depends(counter)]) -> int:
        return n

    async def b(n: Annotated[int, Depends(counter)]) -> int:
        return n

    app = make_app()

    @app.get("/")
    async def handler(x: Annotated[int, Depends(a)], y: Annotated[int, Depends(b)]) -> dict:
        return {"x": x, "y": y}

    client = TestClient(app)
    assert client.get("/").json() == {"x": 1, "y": 1}
    assert client.get("/").json() == {"x": 2, "y": 2}


def test_use_cache_false_calls_again():
    calls = []

    def counter() -> int:
        calls.append(1)
        return len(calls)

    app = make_app()

    @app.get("/")
    async def handler(
        x: Annotated[int, Depends(counter)], y: Annotated[int, Depends(counter, use_cache=False)]
    ) -> dict:
        return {"x": x, "y": y}

    assert TestClient(app).get("/").json() == {"x": 1, "y": 2}


def test_yield_teardown_runs_after_the_response():
    events = []

    async def resource():
        events.append("open")
        yield "r"
        events.append("close")

    app = make_app()

    @app.get("/")
    async def handler(r: Annotated[str, Depends(resource)]) -> str:
        events.append("handler")
        return r

    assert TestClient(app).get("/").text == "r"
    assert events == ["open", "handler", "close"]


def test_yield_teardown_sees_the_handler_error():
    events = []

    async def transaction():
        try:
            yield "tx"
            events.append("commit")
        except Exception as exc:
            events.append(f"rollback:{type(exc).__name__}")
            raise

    app = make_app()

    @app.get("/")
    async def handler(tx: Annotated[str, Depends(transaction)]) -> str:
        raise HTTPError("nope", status_code=409)

    response = TestClient(app).get("/")
    assert response.status_code == 409
    assert events == ["rollback:HTTPError"]


def test_sync_generator_dependency():
    events = []

    def resource():
        events.append("open")
        yield 1
        events.append("close")

    app = make_app()

    @app.get("/")
    def handler(r: Annotated[int, Depends(resource)]) -> dict:
        return {"r": r}

    assert TestClient(app).get("/").json() == {"r": 1}
    assert events == ["open", "close"]


def test_app_scope_lives_for_the_lifespan():
    events = []

    async def pool():
        events.append("create")
        yield object()
        events.append("dispose")

    app = make_app()
    seen = []

    @app.get("/")
    async def handler(p: Annotated[object, Depends(pool, scope="app")]) -> str:
        seen.append(p)
        return "ok"

    with TestClient(app) as client:
        client.get("/")
        client.get("/")
        assert events == ["create"]
    assert events == ["create", "dispose"]
    assert seen[0] is seen[1]


def test_app_scoped_dependency_cannot_read_the_request():
    async def bad(q: str) -> str:
        return q

    app = make_app()
    app.get("/")(lambda x: x)

    @app.get("/bad")
    async def handler(x: Annotated[str, Depends(bad, scope="app")]) -> str:
        return x

    with pytest.raises(ConfigurationError, match="app-scoped dependency cannot read the request"):
        TestClient(app).get("/bad")


def _first(y: "Annotated[int, Depends(_second)]") -> int:
    return y


def _second(z: Annotated[int, Depends(_first)]) -> int:
    return z


def test_circular_dependency_fails_at_startup_naming_route_and_parameter():
    app = make_app()

    @app.get("/loop")
    async def loop(v: Annotated[int, Depends(_first)]) -> int:
        return v

    with pytest.raises(
        ConfigurationError, match=r"route GET /loop parameter `v`.*circular dependency"
    ):
        TestClient(app).get("/loop")


def test_overrides_replace_a_dependency_for_tests():
    def real_db() -> str:
        return "postgres"

    app = make_app()

    @app.get("/")
    async def handler(db: Annotated[str, Depends(real_db)]) -> str:
        return db

    client = TestClient(app)
    assert client.get("/").text == "postgres"
    app.dependency_overrides[real_db] = lambda: "sqlite-in-memory"
    assert client.get("/").text == "sqlite-in-memory"
    app.dependency_overrides.clear()
    assert client.get("/").text == "postgres"


def test_providers_by_type():
    class Clock:
        def now(self) -> int:
            return 42

    app = make_app()
    app.provide(Clock, Clock, scope="app")

    @app.get("/")
    async def handler(clock: Clock) -> dict:
        return {"now": clock.now()}

    assert TestClient(app).get("/").json() == {"now": 42}


def test_a_provider_for_a_generic_class_serves_its_parameterized_forms():
    """``mypy --strict`` wants type arguments (``ServedModel[list[float], str]``); the
    provider registered for the class serves the annotation written with them."""
    from typing import Generic, TypeVar

    T = TypeVar("T")

    class Box(Generic[T]):
        def __init__(self, value: T) -> None:
            self.value = value

    app = make_app()
    app.provide(Box, lambda: Box(42), scope="app")

    @app.get("/")
    async def handler(box: Box[int]) -> dict:
        return {"value": box.value}

    with TestClient(app) as client:
        assert client.get("/").json() == {"value": 42}


def test_router_and_route_level_side_effect_dependencies():
    order = []

    async def auth(request: Request) -> None:
        order.append("router")
        if request.headers.get("x-key") != "k":
            raise HTTPError("bad key", status_code=401)

    async def audit() -> None:
        order.append("route")

    router = Router("/admin", dependencies=[Depends(auth)])

    @router.get("/", dependencies=[Depends(audit)])
    async def admin() -> str:
        order.append("handler")
        return "ok"

    app = make_app()
    app.include(router)
    client = TestClient(app)
    assert client.get("/admin").status_code == 401
    order.clear()
    assert client.get("/admin", headers={"x-key": "k"}).text == "ok"
    assert order == ["router", "route", "handler"]


def test_container_call_outside_http():
    async def settings_dep() -> str:
        return "cfg"

    async def job(cfg: Annotated[str, Depends(settings_dep)], n: int) -> str:
        return f"{cfg}:{n}"

    import asyncio

    app = make_app()
    assert asyncio.run(app.container.call(job, n=3)) == "cfg:3"


def test_dependencies_in_websocket_handlers():
    from bastion.websockets import WebSocket

    async def greeting() -> str:
        return "hi"

    app = make_app()

    @app.websocket("/ws/{room}")
    async def ws(websocket: WebSocket, room: str, g: Annotated[str, Depends(greeting)]) -> None:
        await websocket.accept()
        await websocket.send_json({"room": room, "greeting": g})
        await websocket.close()

    with TestClient(app).websocket_connect("/ws/lobby") as session:
        assert session.receive_json() == {"room": "lobby", "greeting": "hi"}
