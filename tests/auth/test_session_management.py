"""A user's sessions: listed with their devices, ended one by one or all but this one, ended
by a password reset; and an ended session refused by every process sharing Redis."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion import App, ConfigurationError, Request, Settings
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    MemoryStore,
    PasswordHasher,
    RedisStore,
    SessionAuth,
    SessionPlugin,
)
from bastion.auth.account_sessions import AccountSessionRoutes
from bastion.auth.models import load_user
from bastion.auth.routes import AuthRoutes, ResetLink
from bastion.auth.sessions.database_store import DatabaseStore
from bastion.security import SecurityPlugin
from bastion.security.csrf import csrf_token
from bastion.testing import TestClient
from tests._processes import free_ports, running
from tests.auth.conftest import SECRET, app_with_database, sign_up

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"
ACCOUNT = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
LOGIN = {"email": "ada@example.com", "password": PASSWORD}


@pytest.fixture(params=["memory", "database", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_app(url: str, hasher: PasswordHasher, kind: str, redis_url: str | None = None):
    sent: list[ResetLink] = []

    def plugins(database: Any) -> list[Any]:
        store: Any = {
            "memory": lambda: MemoryStore(),
            "database": lambda: DatabaseStore(database),
            "redis": lambda: RedisStore(redis_url, prefix=f"t:{os.urandom(4).hex()}:"),
        }[kind]()
        return [
            SessionPlugin(store),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher, send_reset_link=sent.append, throttle=None),
            AccountSessionRoutes(page_path=None),
        ]

    app, _ = app_with_database(url, plugins)

    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"email": user.email}

    return app, sent


class Devices:
    """Several browsers on one test client (one lifespan): each keeps its own cookies."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.jars: dict[str, list[Any]] = {}

    def __call__(self, device: str, method: str, url: str, **options: Any) -> httpx.Response:
        self.client.cookies.clear()
        for cookie in self.jars.get(device, []):
            self.client.cookies.jar.set_cookie(cookie)
        headers = {"user-agent": device, **options.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **options)
        self.jars[device] = list(self.client.cookies.jar)
        return response


def test_list_and_end_sessions(tmp_path, hasher: PasswordHasher, store_kind: str, request) -> None:
    redis_url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
    app, _ = make_app(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", hasher, store_kind, redis_url)
    with TestClient(app) as client:
        on = Devices(client)
        assert on("Laptop/1", "POST", "/auth/register", json=ACCOUNT).status_code == 202
        assert on("Laptop/1", "POST", "/auth/login", json=LOGIN).status_code == 200
        assert on("Phone/2", "POST", "/auth/login", json=LOGIN).status_code == 200
        assert on("Tablet/3", "POST", "/auth/login", json=LOGIN).status_code == 200
        listed = on("Laptop/1", "GET", "/auth/sessions").json()
        assert [s["user_agent"] for s in listed][0] == "Laptop/1"
        assert [s["current"] for s in listed] == [True, False, False]
        assert {s["user_agent"] for s in listed} == {"Laptop/1", "Phone/2", "Tablet/3"}
        assert all(s["ip"] for s in listed)
        assert all(s["created"] <= s["last_seen"] for s in listed)

        phone_id = next(s["id"] for s in listed if s["user_agent"] == "Phone/2")
        assert on("Laptop/1", "DELETE", f"/auth/sessions/{phone_id}").status_code == 204
        assert on("Phone/2", "GET", "/me").status_code == 401
        assert on("Tablet/3", "GET", "/me").status_code == 200
        again = on("Laptop/1", "DELETE", f"/auth/sessions/{phone_id}")
        assert again.status_code == 404
        assert again.headers["content-type"] == "application/problem+json"
        assert on("Laptop/1", "DELETE", "/auth/sessions/not-an-id").status_code == 422

        assert on("Laptop/1", "DELETE", "/auth/sessions").status_code == 204
        assert on("Tablet/3", "GET", "/me").status_code == 401
        assert on("Laptop/1", "GET", "/me").status_code == 200
        assert [s["current"] for s in on("Laptop/1", "GET", "/auth/sessions").json()] == [True]
        assert on("Phone/2", "GET", "/auth/sessions").status_code == 401


def test_one_user_cannot_end_anothers_session(tmp_path, hasher: PasswordHasher) -> None:
    app, _ = make_app(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", hasher, "memory")
    with TestClient(app) as client:
        on = Devices(client)
        for name in ("ada", "bob"):
            account = {**ACCOUNT, "email": f"{name}@example.com"}
            assert on(name, "POST", "/auth/register", json=account).status_code == 202
            assert on(name, "POST", "/auth/login", json=account).status_code == 200
        bobs = on("bob", "GET", "/auth/sessions").json()[0]["id"]
        assert on("ada", "DELETE", f"/auth/sessions/{bobs}").status_code == 404
        assert on("bob", "GET", "/me").status_code == 200


def test_a_password_reset_ends_the_other_sessions(
    database_url: str, hasher: PasswordHasher
) -> None:
    app, sent = make_app(database_url, hasher, "database")
    with TestClient(app) as client:
        on = Devices(client)
        assert on("laptop", "POST", "/auth/register", json=ACCOUNT).status_code == 202
        assert on("laptop", "POST", "/auth/login", json=LOGIN).status_code == 200
        assert on("phone", "POST", "/auth/login", json=LOGIN).status_code == 200
        on("stranger", "POST", "/auth/password-reset", json={"email": "ada@example.com"})
        confirm = {"token": sent[0].token, "password": "a brand new passphrase"}
        assert (
            on("stranger", "POST", "/auth/password-reset/confirm", json=confirm).status_code == 204
        )
        assert on("laptop", "GET", "/me").status_code == 401
        assert on("phone", "GET", "/me").status_code == 401
        relogin = {"email": "ada@example.com", "password": "a brand new passphrase"}
        assert on("phone", "POST", "/auth/login", json=relogin).status_code == 200
        assert len(on("phone", "GET", "/auth/sessions").json()) == 1  # ended ones are gone


def test_signed_cookie_sessions_cannot_be_listed(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="RedisStore"):
        App(
            settings=Settings(profile="test", secret_key=SECRET),
            plugins=[SessionPlugin(), AccountSessionRoutes()],
        )


def test_the_page_lists_sessions_with_forms(tmp_path, hasher: PasswordHasher) -> None:
    def plugins(database: Any) -> list[Any]:
        return [
            SessionPlugin(MemoryStore()),
            SecurityPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher, throttle=None),
            AccountSessionRoutes(),
        ]

    app, _ = app_with_database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", plugins)

    @app.get("/page-token")
    async def page_token(request: Request) -> str:
        return csrf_token(request)

    with TestClient(app) as client:
        on = Devices(client)
        for device in ("Phone/2", "Laptop/<1>"):
            csrf = {"x-csrf-token": on(device, "GET", "/page-token").text}
            if device == "Phone/2":
                registered = on(device, "POST", "/auth/register", json=ACCOUNT, headers=csrf)
                assert registered.status_code == 202
            assert on(device, "POST", "/auth/login", json=LOGIN, headers=csrf).status_code == 200
        page = on("Laptop/<1>", "GET", "/account/sessions")
        assert page.status_code == 200
        assert "Laptop/&lt;1&gt;" in page.text and "This device" in page.text
        assert page.text.count("/end") == 2  # one session to end, and "everywhere else"
        assert on("anonymous", "GET", "/account/sessions").status_code == 401


APP = textwrap.dedent(
    """
    import os
    from contextlib import asynccontextmanager

    from bastion import App, Settings
    from bastion.auth import AuthPlugin, CurrentUser, PasswordHasher, RedisStore, SessionAuth
    from bastion.auth import SessionPlugin
    from bastion.auth.account_sessions import AccountSessionRoutes
    from bastion.auth.models import load_user
    from bastion.auth.routes import AuthRoutes
    from bastion.db import Model, SQLAlchemyPlugin

    database = SQLAlchemyPlugin(os.environ["APP_DATABASE"])
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app = App(
        settings=Settings(profile="test", secret_key=os.environ["APP_SECRET"]),
        plugins=[
            database,
            SessionPlugin(RedisStore(os.environ["APP_REDIS"])),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher, throttle=None),
            AccountSessionRoutes(page_path=None),
        ],
    )


    @asynccontextmanager
    async def tables(app):
        async with database.engine.begin() as connection:
            await connection.run_sync(Model.metadata.create_all)
        yield


    app.lifespan_contexts.append(tables)


    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"email": user.email, "pid": os.getpid()}
    """
)


def test_a_session_ended_through_one_process_is_refused_by_both(redis_url, tmp_path) -> None:
    (tmp_path / "sessions_app.py").write_text(APP)
    env = {
        **os.environ,
        "APP_DATABASE": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "APP_REDIS": redis_url.rsplit("/", 1)[0] + "/3",
        "APP_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    log = (tmp_path / "uvicorn.log").open("wb")

    def server(port: int):
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "sessions_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        from tests._processes import accepts

        return running(
            command,
            ready=lambda: accepts(port),
            what=f"uvicorn on {port}",
            timeout=30,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    one, two = free_ports(2)
    with (
        server(one),
        server(two),
        httpx.Client(timeout=10) as laptop,
        httpx.Client(timeout=10) as phone,
    ):
        first, second = f"http://127.0.0.1:{one}", f"http://127.0.0.1:{two}"
        assert sign_up(laptop, ACCOUNT, base=first).status_code == 200
        assert (
            phone.post(
                f"{first}/auth/login", json=LOGIN, headers={"user-agent": "Phone/2"}
            ).status_code
            == 200
        )
        pids = {phone.get(f"{base}/me").json()["pid"] for base in (first, second)}
        assert len(pids) == 2  # the phone's session works on both processes

        listed = laptop.get(f"{second}/auth/sessions").json()
        assert len(listed) == 2
        other = next(s for s in listed if not s["current"])
        assert other["user_agent"] == "Phone/2"
        assert laptop.delete(f"{second}/auth/sessions/{other['id']}").status_code == 204

        for base in (first, second):
            refused = phone.get(f"{base}/me")
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
        assert laptop.get(f"{first}/me").status_code == 200
    log.close()
