"""BackgroundTasks: work that runs after the response is sent, in this process."""

import asyncio
import logging
from typing import Any

import pytest

from bastion import App, BackgroundTasks, Response, StreamingResponse
from bastion.exceptions import Conflict
from bastion.testing import AsyncTestClient


async def call(app: App, path: str) -> list[Any]:
    """Drive the app with raw ASGI and return what happened, in order."""
    events: list[Any] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        events.append(message["type"])

    app.state.events = events  # type: ignore[attr-defined]
    await app(scope, receive, send)
    return events


async def test_tasks_run_after_the_whole_response_is_sent() -> None:
    app = App()

    async def note(word: str, *, end: str = "") -> None:
        app.state.events.append(word + end)  # type: ignore[attr-defined]

    @app.post("/signup")
    async def signup(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(note, "welcome", end="!")
        tasks.add_task(note, "second")
        return {"ok": True}

    async with app.lifespan():
        events = await call(app, "/signup")
    assert events == ["http.response.start", "http.response.body", "welcome!", "second"]


async def test_tasks_wait_for_the_end_of_a_stream() -> None:
    app = App()

    async def chunks() -> Any:
        yield b"a"
        yield b"b"

    @app.post("/stream")
    async def stream(tasks: BackgroundTasks) -> Response:
        tasks.add_task(lambda: app.state.events.append("after"))  # type: ignore[attr-defined]
        return StreamingResponse(chunks())

    async with app.lifespan():
        events = await call(app, "/stream")
    assert events[-1] == "after"
    assert events.count("http.response.body") == 3


async def test_a_failed_handler_runs_none_of_its_tasks() -> None:
    app = App()
    ran: list[str] = []

    @app.post("/refused")
    async def refused(tasks: BackgroundTasks) -> None:
        tasks.add_task(ran.append, "should not run")
        raise Conflict("no")

    async with AsyncTestClient(app) as client:
        assert (await client.post("/refused")).status_code == 409
    assert ran == []


async def test_a_failing_task_is_logged_and_the_next_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("smtp down")

    async def fine() -> None:
        await asyncio.sleep(0)
        ran.append("fine")

    @app.post("/")
    async def handler(tasks: BackgroundTasks) -> dict[str, int]:
        tasks.add_task(broken)  # sync: runs in a thread
        tasks.add_task(fine)
        return {"queued": len(tasks)}

    async with AsyncTestClient(app) as client:
        response = await client.post("/")
    assert response.status_code == 201 and response.json() == {"queued": 2}
    assert ran == ["fine"]
    failures = [r for r in caplog.records if "Background task" in r.getMessage()]
    assert failures and failures[0].levelno == logging.ERROR
    assert "broken" in failures[0].getMessage()


def test_add_task_refuses_what_it_cannot_call() -> None:
    with pytest.raises(TypeError, match="takes a function"):
        BackgroundTasks().add_task("send_mail")  # type: ignore[arg-type]


def test_responses_have_no_background_attribute_any_more() -> None:
    assert not hasattr(Response(b""), "background")
