"""``current_session()``: the request's session for code the handler calls without passing
``db`` (a job's ``enqueue`` joins that transaction), and None outside a request."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin, current_session


def helper() -> AsyncSession | None:
    """Code deep in the call stack that was not given the session."""
    return current_session()


def make_app(tmp_path: Any) -> App:
    app = App(
        settings=Settings(profile="test"),
        plugins=[SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'current.db'}")],
    )

    @app.get("/with-db")
    async def with_db(db: AsyncSession) -> dict[str, bool]:
        return {"same": helper() is db}

    @app.get("/sync-with-db")
    def sync_with_db(db: AsyncSession) -> dict[str, bool]:  # runs in a thread
        return {"same": helper() is db}

    @app.get("/without-db")
    async def without_db() -> dict[str, bool]:
        return {"none": helper() is None}

    return app


async def call(app: App, path: str) -> bytes:
    """One request through the ASGI interface, in this task (as a server runs it)."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(body)


def test_outside_a_request_there_is_no_session() -> None:
    assert current_session() is None


async def test_the_request_session_is_current_while_the_handler_runs(tmp_path: Any) -> None:
    app = make_app(tmp_path)
    async with app.lifespan():
        assert await call(app, "/with-db") == b'{"same":true}'
        assert await call(app, "/sync-with-db") == b'{"same":true}'
        assert await call(app, "/without-db") == b'{"none":true}'


async def test_the_session_is_forgotten_when_the_request_ends(tmp_path: Any) -> None:
    app = make_app(tmp_path)
    async with app.lifespan():
        assert await call(app, "/with-db") == b'{"same":true}'
        assert current_session() is None  # the same task, after the request
