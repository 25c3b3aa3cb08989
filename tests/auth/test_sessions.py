import secrets
from datetime import timedelta
from typing import Any

import pytest

from bastion import App, ConfigurationError, Request, Settings
from bastion.auth import MemoryStore, SessionPlugin, flash, flashed
from bastion.auth.sessions import plugin as plugin_module
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, add_session_routes


class Clock:
    """Stands in for the ``time`` module inside the session plugin."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(plugin_module, "time", fake)
    return fake


def make_app(store: Any = None, profile: str = "test", **options: Any) -> App:
    sessions = SessionPlugin(store, **options)
    app = add_session_routes(
        App(settings=Settings(profile=profile, secret_key=SECRET), plugins=[sessions])
    )

    @app.get("/nothing")
    async def nothing() -> str:
        return "ok"

    @app.post("/flash/{text}")
    async def add_flash(text: str, request: Request) -> None:
        flash(request, text, "success")

    @app.get("/flashes")
    async def read_flashes(request: Request) -> list[list[str]]:
        return [[f.category, f.message] for f in flashed(request)]

    @app.post("/big")
    async def big(request: Request) -> None:
        request.session["blob"] = secrets.token_hex(3000)  # random: does not compress

    @app.post("/crash")
    async def crash(request: Request) -> None:
        request.session["half"] = "done"
        raise RuntimeError("boom")

    return app


STORES = {"cookie": lambda: None, "memory": MemoryStore}


@pytest.fixture(params=list(STORES))
def client(request: pytest.FixtureRequest) -> TestClient:
    return TestClient(make_app(STORES[request.param]()), base_url="https://testserver")


def test_values_persist_between_requests(client: TestClient) -> None:
    client.post("/put/color/blue")
    assert client.get("/get/color").json() == {"value": "blue"}


def test_untouched_session_sets_no_cookie(client: TestClient) -> None:
    assert "set-cookie" not in client.get("/nothing").headers
    assert "set-cookie" not in client.get("/get/color").headers


def test_cookie_flags_in_prod() -> None:
    client = TestClient(make_app(profile="prod"), base_url="https://testserver")
    cookie = client.post("/put/a/b").headers["set-cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    assert parts[0].startswith("session=")
    assert {"HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=7200"} <= set(parts)


@pytest.mark.parametrize("profile", ["dev", "test"])
def test_dev_and_test_cookies_are_not_secure_so_http_works(profile: str) -> None:
    client = TestClient(make_app(profile=profile))  # http://testserver, as tests are written
    cookie = client.post("/put/a/b").headers["set-cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/get/a").json() == {"value": "b"}  # sent back over http


def test_rotation_changes_the_cookie_and_keeps_the_data(client: TestClient) -> None:
    client.post("/put/cart/3")
    before = client.cookies["session"]
    response = client.post("/rotate")
    after = client.cookies["session"]
    assert "set-cookie" in response.headers and after != before
    assert client.get("/get/cart").json() == {"value": "3"}


def test_rotated_id_is_dead_in_a_server_side_store() -> None:
    client = TestClient(make_app(MemoryStore()), base_url="https://testserver")
    client.post("/put/cart/3")
    old = client.cookies["session"]
    client.post("/rotate")
    assert client.get("/get/cart").json() == {"value": "3"}
    stale = TestClient(client.app, base_url="https://testserver")
    assert stale.get("/get/cart", headers={"cookie": f"session={old}"}).json() == {"value": None}


def test_invalidate_deletes_the_cookie_and_the_data(client: TestClient) -> None:
    client.post("/put/cart/3")
    old = client.cookies["session"]
    response = client.post("/clear")
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert client.get("/get/cart").json() == {"value": None}
    replay = TestClient(client.app, base_url="https://testserver")
    replayed = replay.get("/get/cart", headers={"cookie": f"session={old}"}).json()
    store = next(p for p in client.app.plugins if isinstance(p, SessionPlugin)).store
    # A server-side session is gone for good; a signed cookie cannot be revoked (by design).
    assert replayed == ({"value": None} if store is not None else {"value": "3"})


def test_flash_messages_are_read_once(client: TestClient) -> None:
    client.post("/flash/saved")
    client.post("/flash/again")
    assert client.get("/flashes").json() == [["success", "saved"], ["success", "again"]]
    assert client.get("/flashes").json() == []


def test_idle_sessions_expire(clock: Clock, client: TestClient) -> None:
    client.post("/put/a/b")
    clock.now += 7199
    assert client.get("/get/a").json() == {"value": "b"}  # activity recorded
    clock.now += 7199
    assert client.get("/get/a").json() == {"value": "b"}
    clock.now += 7201
    assert client.get("/get/a").json() == {"value": None}


def test_absolute_expiry_ends_even_an_active_session(clock: Clock) -> None:
    app = make_app(
        MemoryStore(), idle_timeout=timedelta(hours=1), absolute_timeout=timedelta(hours=3)
    )
    client = TestClient(app, base_url="https://testserver")
    client.post("/put/a/b")
    for _ in range(3):
        clock.now += 3000
        assert client.get("/get/a").json() == {"value": "b"}
    clock.now += 3000  # 3 h 20 min of steady activity in total
    assert client.get("/get/a").json() == {"value": None}


def test_activity_is_written_back_at_most_once_a_minute(clock: Clock, client: TestClient) -> None:
    client.post("/put/a/b")
    clock.now += 30
    assert "set-cookie" not in client.get("/get/a").headers
    clock.now += 31
    assert "set-cookie" in client.get("/get/a").headers


@pytest.mark.parametrize(
    "value",
    ["garbage", "a.b.c", "x" * 10_000, ".eJyrVkrOSM3JUbJSMjA0NDJRUqsFADdcBRk.Zz.sig", "é∂ƒ"],
)
def test_garbage_cookies_start_a_new_session(client: TestClient, value: str) -> None:
    response = client.get("/get/a", headers={"cookie": f"session={value}".encode()})
    assert response.status_code == 200 and response.json() == {"value": None}


def test_non_utf8_cookie_header_starts_a_new_session(client: TestClient) -> None:
    response = client.get("/get/a", headers={"cookie": b"session=\xff\xfe\x80"})
    assert response.status_code == 200 and response.json() == {"value": None}


def test_a_cookie_signed_with_another_key_is_ignored() -> None:
    ours = TestClient(make_app(), base_url="https://testserver")
    other_app = make_app(secret_key="another-secret-of-at-least-32-characters!")
    theirs = TestClient(other_app, base_url="https://testserver")
    theirs.post("/put/role/admin")
    cookie = {"cookie": f"session={theirs.cookies['session']}"}
    assert theirs.get("/get/role", headers=cookie).json() == {"value": "admin"}
    assert ours.get("/get/role", headers=cookie).json() == {"value": None}


def test_a_failed_request_does_not_save_the_session(client: TestClient) -> None:
    quiet = TestClient(client.app, base_url="https://testserver", raise_server_exceptions=False)
    response = quiet.post("/crash")
    assert response.status_code == 500 and "set-cookie" not in response.headers


def test_a_session_too_big_for_a_cookie_is_an_error_that_says_why() -> None:
    client = TestClient(make_app(), base_url="https://testserver")
    with pytest.raises(RuntimeError, match="more than a cookie can hold"):
        client.post("/big")
    server_side = TestClient(make_app(MemoryStore()), base_url="https://testserver")
    assert server_side.post("/big").status_code == 204


def test_same_site_none_needs_secure() -> None:
    with pytest.raises(ConfigurationError, match="secure=True"):
        make_app(profile="dev", same_site="none")


def test_timeouts_are_checked_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="idle_timeout"):
        SessionPlugin(idle_timeout=timedelta(days=2), absolute_timeout=timedelta(days=1))


def test_a_store_must_implement_the_protocol() -> None:
    with pytest.raises(ConfigurationError, match="SessionStore"):
        SessionPlugin(store=object())  # type: ignore[arg-type]


def test_request_session_without_the_plugin_says_what_to_add() -> None:
    app = App(settings=Settings(profile="test"))

    @app.get("/")
    async def index(request: Request) -> str:
        return str(request.session)

    with pytest.raises(AttributeError, match="SessionPlugin"):
        TestClient(app).get("/")


def test_memory_store_stays_bounded() -> None:
    import asyncio

    store = MemoryStore(max_entries=3)

    async def fill() -> None:
        for n in range(10):
            await store.save(f"k{n}", b"v", 60)

    asyncio.run(fill())
    assert len(store) == 3
