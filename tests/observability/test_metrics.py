from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Response, Settings, WebSocket
from bastion.db import SQLAlchemyPlugin
from bastion.observability import ObservabilityPlugin
from bastion.testing import TestClient
from tests.observability.conftest import AUTH, make_app


def samples(client: TestClient, headers=None) -> list:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(found: list, name: str, **labels: str) -> float | None:
    matching = [s.value for s in found if s.name == name and labels.items() <= s.labels.items()]
    return sum(matching) if matching else None


def plugin_of(app: App) -> ObservabilityPlugin:
    return next(p for p in app.plugins if isinstance(p, ObservabilityPlugin))


def test_requests_are_counted_by_route_template_never_by_raw_path():
    app = make_app()

    @app.get("/users/{user_id:int}")
    async def user(user_id: int) -> dict:
        return {"id": user_id}

    with TestClient(app) as client:
        for user_id in range(5):
            client.get(f"/users/{user_id}")
        client.get("/users/not-a-number")
        client.get("/nowhere")
        client.head("/users/1")
        found = samples(client)
    route = "/users/{user_id:int}"
    assert value(found, "bastion_http_requests_total", route=route, method="GET", status="200") == 5
    assert value(found, "bastion_http_requests_total", route=route, method="HEAD") == 1
    assert value(found, "bastion_http_request_duration_seconds_count", route=route, method="GET") == 5
    assert value(found, "bastion_http_requests_total", route="unmatched", status="404") == 2
    routes = {s.labels["route"] for s in found if "route" in s.labels}
    assert all(r.startswith("/") or r == "unmatched" for r in routes)
    assert not any(r.startswith("/users/") and "{" not in r for r in routes)
    assert value(found, "process_resident_memory_bytes") > 0  # process metrics too


def test_unknown_methods_share_one_label():
    app = make_app()
    with TestClient(app) as client:
        client.request("BREW", "/health/live")
        found = samples(client)
    assert value(found, "bastion_http_requests_total", method="other", status="405") == 1


def test_in_flight_requests_and_websockets_are_gauged():
    app = make_app()
    seen = {}

    @app.get("/slow")
    async def slow() -> str:
        registry = plugin_of(app).metrics.registry
        seen["http"] = registry.get_sample_value(
            "bastion_http_requests_in_progress", {"method": "GET", "route": "/slow"}
        )
        return "done"

    @app.websocket("/chat/{room}")
    async def chat(ws: WebSocket, room: str) -> None:
        await ws.accept()
        registry = plugin_of(app).metrics.registry
        seen["ws"] = registry.get_sample_value("bastion_websocket_connections", {"route": "/chat/{room}"})
        await ws.send_text("hi")
        await ws.close()

    with TestClient(app) as client:
        client.get("/slow")
        with client.websocket_connect("/chat/lobby") as session:
            assert session.receive_text() == "hi"
        found = samples(client)
    assert seen == {"http": 1.0, "ws": 1.0}
    assert value(found, "bastion_http_requests_in_progress", route="/slow") == 0
    assert value(found, "bastion_websocket_connections", route="/chat/{room}") == 0


def test_database_pool_gauges(tmp_path):
    database = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    app = make_app(database)

    @app.get("/query")
    async def query(db: AsyncSession) -> int:
        return (await db.execute(text("SELECT 1"))).scalar_one()

    with TestClient(app) as client:
        assert client.get("/query").json() == 1
        found = samples(client)
    assert value(found, "bastion_db_pool_connections", state="checked_out") == 0
    assert value(found, "bastion_db_pool_connections", state="idle") >= 1


def test_a_mount_is_labelled_by_its_prefix_with_the_status_it_sent():
    async def teapot(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"short and stout"})

    app = make_app()
    app.mount("/legacy", teapot)
    with TestClient(app) as client:
        assert client.get("/legacy/anything/here").status_code == 418
        found = samples(client)
    assert value(found, "bastion_http_requests_total", route="/legacy/{path:path}", status="418") == 1


def test_metrics_can_require_authorisation():
    with TestClient(make_app(metrics_need_auth=True)) as client:
        assert client.get("/metrics").status_code == 401
        assert value(samples(client, AUTH), "bastion_workers") == 1


def test_two_apps_in_one_process_keep_separate_counts():
    first, second = make_app(), make_app()
    with TestClient(first) as one, TestClient(second) as two:
        one.get("/health/live")
        assert value(samples(two), "bastion_http_requests_total", route="/health/live") is None


def test_an_app_without_the_plugin_serves_the_compiled_endpoints_unwrapped():
    app = App(settings=Settings(profile="test"))

    @app.get("/plain")
    async def plain() -> Response:
        return Response(b"ok")

    with TestClient(app) as client:
        assert client.get("/plain").text == "ok"
    assert app.endpoint_wrappers == []
    compiled = next(c for c in app.compiled if c.route.path == "/plain")
    assert compiled.endpoint.__qualname__.startswith("compile_http")


def test_paths_can_be_moved_or_dropped():
    app = make_app(health_path="/ops/health", metrics_path=None, management_path=None)
    with TestClient(app) as client:
        assert client.get("/ops/health/ready").status_code == 200
        assert client.get("/metrics").status_code == 404
        assert client.get("/_bastion/info").status_code == 404
