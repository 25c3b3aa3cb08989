from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bastion import App, Request, Settings
from bastion.auth import PasswordHasher
from bastion.db import Model, SQLAlchemyPlugin
from tests.db.conftest import app_with_tables, database_url  # noqa: F401  (shared fixtures)

SECRET = "test-secret-key-with-at-least-32-characters"


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """argon2id with tiny costs: the tests check behaviour, not the work factor."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def app_with_database(
    url: str, plugins: Callable[[SQLAlchemyPlugin], list[Any]], **settings: Any
) -> tuple[App, SQLAlchemyPlugin]:
    """An app whose start-up recreates every table, with ``plugins(database)`` after the
    database plugin."""
    database = SQLAlchemyPlugin(url)

    @asynccontextmanager
    async def tables(app: App):
        assert database.engine is not None
        async with database.engine.begin() as connection:
            await connection.run_sync(Model.metadata.drop_all)
            await connection.run_sync(Model.metadata.create_all)
        yield

    options = {"profile": "test", "secret_key": SECRET, **settings}
    app = App(settings=Settings(**options), plugins=[database, *plugins(database)])
    app.lifespan_contexts.append(tables)
    return app, database


def sign_up(client: Any, account: dict[str, str], *, base: str = "", **options: Any) -> Any:
    """Register (202: it signs nobody in, so sign-up never tells whether an address has an
    account), then log in as the new user does next; the login's response. ``client`` is a
    TestClient or an httpx.Client; ``base`` the server's URL for the latter."""
    registered = client.post(f"{base}/auth/register", json=account, **options)
    assert registered.status_code == 202, registered.text
    login = {"email": account["email"], "password": account["password"]}
    return client.post(f"{base}/auth/login", json=login, **options)


def add_session_routes(app: App) -> App:
    """Routes that put, read, rotate and clear session values, for the session tests."""

    @app.post("/put/{key}/{value}")
    async def put(key: str, value: str, request: Request) -> None:
        request.session[key] = value

    @app.get("/get/{key}")
    async def get(key: str, request: Request) -> Any:
        return {"value": request.session.get(key)}

    @app.post("/rotate")
    async def rotate(request: Request) -> None:
        request.session.rotate()

    @app.post("/clear")
    async def clear(request: Request) -> None:
        request.session.invalidate()

    return app
