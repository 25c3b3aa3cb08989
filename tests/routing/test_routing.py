import uuid
from typing import Any

import pytest

from bastion import App, ConfigurationError, Controller, Router, Settings, get, post
from bastion.routing.converters import Converter
from bastion.testing import TestClient


def make_app(**kwargs: Any) -> App:
    return App(settings=Settings(profile="test"), **kwargs)


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_every_method_decorator_registers_its_method(method):
    app = make_app()
    getattr(app, method)("/thing")(lambda: {"method": method})
    client = TestClient(app)
    response = client.request(method.upper(), "/thing")
    assert response.status_code in (200, 201)
    assert response.json() == {"method": method}


def test_wrong_method_is_405_with_allow_header():
    app = make_app()

    @app.get("/only-get")
    async def only_get() -> str:
        return "x"

    response = TestClient(app).post("/only-get")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 405


def test_head_is_served_by_get_without_body():
    app = make_app()

    @app.get("/page")
    async def page() -> str:
        return "hello"

    response = TestClient(app).head("/page")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "5"


def test_automatic_options_lists_allowed_methods():
    app = make_app()
    app.get("/r")(lambda: "g")
    app.post("/r")(lambda: "p")
    response = TestClient(app).options("/r")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_trailing_slash_redirects_by_default():
    app = make_app()
    app.get("/items")(lambda: "items")
    client = TestClient(app, follow_redirects=False)
    response = client.get("/items/?page=2")
    assert response.status_code == 308
    assert response.headers["location"] == "/items?page=2"


def test_trailing_slash_strict_policy_is_404():
    app = App(settings=Settings(profile="test", trailing_slash="strict"))
    app.get("/items")(lambda: "items")
    assert TestClient(app).get("/items/").status_code == 404


def test_unknown_path_is_problem_404():
    response = TestClient(make_app()).get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not Found"


def test_path_param_type_from_annotation_rejects_text_with_404():
    app = make_app()

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> dict:
        return {"id": user_id, "type": type(user_id).__name__}

    client = TestClient(app)
    assert client.get("/users/7").json() == {"id": 7, "type": "int"}
    assert client.get("/users/seven").status_code == 404


def test_uuid_path_param():
    app = make_app()

    @app.get("/orders/{order_id}")
    async def order(order_id: uuid.UUID) -> dict:
        return {"id": str(order_id)}

    value = str(uuid.uuid4())
    assert TestClient(app).get(f"/orders/{value}").json() == {"id": value}


def test_custom_converter():
    class Hex(Converter):
        type = int

        def convert(self, value: str) -> int:
            return int(value, 16)

        def to_string(self, value: int) -> str:
            return format(value, "x")

    app = App(settings=Settings(profile="test"), converters={"hex": Hex()})

    @app.get("/colors/{rgb:hex}", name="color")
    async def color(rgb: int) -> dict:
        return {"rgb": rgb}

    client = TestClient(app)
    assert client.get("/colors/ff").json() == {"rgb": 255}
    assert client.get("/colors/zz").status_code == 404
    assert app.url_path_for("color", rgb=255) == "/colors/ff"


def test_unknown_converter_fails_at_startup():
    app = make_app()
    app.get("/x/{v:nosuch}")(lambda v: v)
    with pytest.raises(ConfigurationError, match="unknown converter 'nosuch'"):
        app.url_path_for("x")


def test_url_path_for_builds_and_quotes():
    app = make_app()

    @app.get("/users/{user_id:int}/files/{name:path}", name="file")
    async def file(user_id: int, name: str) -> str:
        return name

    assert app.url_path_for("file", user_id=3, name="a b/c.txt") == "/users/3/files/a%20b/c.txt"
    with pytest.raises(LookupError, match="needs the parameters"):
        app.url_path_for("file", user_id=3)
    with pytest.raises(LookupError, match="No route is named"):
        app.url_path_for("nope")


def test_router_prefix_tags_and_nesting():
    app = make_app()
    outer = Router("/api")
    inner = Router("/v1", tags=["v1"])

    @inner.get("/ping")
    async def ping() -> str:
        return "pong"

    outer.include(inner)
    app.include(outer)
    client = TestClient(app)
    assert client.get("/api/v1/ping").text == "pong"
    assert app.url_path_for("ping") == "/api/v1/ping"


def test_router_prefix_must_be_well_formed():
    with pytest.raises(ConfigurationError, match="must start with '/'"):
        Router("api/")


def test_router_root_route_takes_the_prefix():
    app = make_app()
    router = Router("/blog")
    router.get("/")(lambda: "index")
    app.include(router)
    assert TestClient(app).get("/blog").text == "index"


def test_mount_any_asgi_app_strips_prefix():
    async def sub_app(scope, receive, send):
        body = f"{scope['root_path']}|{scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    app = make_app()
    app.mount("/sub", sub_app)
    client = TestClient(app)
    assert client.get("/sub/a/b").text == "/sub|/a/b"
    assert client.get("/sub").text == "/sub|/"
    assert client.get("/subway").status_code == 404


def test_mounting_a_bastion_app():
    child = make_app()
    child.get("/hello")(lambda: "from child")
    parent = make_app()
    parent.mount("/child", child)
    assert TestClient(parent).get("/child/hello").text == "from child"


def test_controller_groups_routes():
    class Users(Controller):
        prefix = "/users"
        tags = ["users"]

        def __init__(self) -> None:
            self.db = {1: "ada"}

        @get("/{user_id}")
        async def show(self, user_id: int) -> dict:
            return {"name": self.db[user_id]}

        @post("/")
        async def create(self) -> dict:
            return {"created": True}

    app = make_app()
    app.include(Users)
    client = TestClient(app)
    assert client.get("/users/1").json() == {"name": "ada"}
    assert client.post("/users").status_code == 201


def test_controller_without_routes_is_a_configuration_error():
    class Empty(Controller):
        prefix = "/empty"

    with pytest.raises(ConfigurationError, match="declares no routes"):
        make_app().include(Empty)


def test_unknown_http_method_is_rejected():
    with pytest.raises(ConfigurationError, match="unknown HTTP method"):
        make_app().route("/x", ["FETCH"])


def test_sync_handler_runs_in_a_thread():
    import threading

    app = make_app()

    @app.get("/thread")
    def which_thread() -> dict:
        return {"main": threading.current_thread() is threading.main_thread()}

    assert TestClient(app).get("/thread").json() == {"main": False}


def test_percent_encoded_path_param_is_decoded():
    app = make_app()

    @app.get("/tags/{tag}")
    async def tag(tag: str) -> dict:
        return {"tag": tag}

    assert TestClient(app).get("/tags/caf%C3%A9").json() == {"tag": "café"}


def test_many_routes_each_found():
    app = make_app()
    for i in range(100):
        app.get(f"/r{i}/{{x:int}}", name=f"r{i}")(lambda x, i=i: {"i": i, "x": x})
    client = TestClient(app)
    assert client.get("/r57/3").json() == {"i": 57, "x": 3}
    assert app.url_path_for("r99", x=1) == "/r99/1"
