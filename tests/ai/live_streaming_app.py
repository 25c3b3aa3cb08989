"""The app the streaming tests serve with uvicorn: endless token streams that record, on the
server's monotonic clock, when their generator's ``finally`` ran."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from bastion import App, Response, Settings
from bastion.ai.streaming import chat_completion_stream, stream_events, stream_text

#: run id -> time.monotonic() when that run's generator was stopped (CLOCK_MONOTONIC is
#: system-wide on Linux, so the test process can compare it with its own readings).
stopped: dict[str, float] = {}


async def tokens(run: str) -> AsyncIterator[str]:
    """A model that sends three tokens, then thinks for a minute before the next: only a
    server that listens for the disconnect while it waits can stop it in time."""
    try:
        for n in range(3):
            yield f"tok{n} "
        await asyncio.sleep(60)
        yield "too late"
    finally:
        stopped[run] = time.monotonic()


def create_app() -> App:
    app = App(settings=Settings(profile="test"))

    @app.get("/text/{run}")
    async def text(run: str) -> Response:
        return stream_text(tokens(run))

    @app.get("/events/{run}")
    async def events(run: str) -> Response:
        return stream_events(tokens(run))

    @app.get("/chat/{run}")
    async def chat(run: str) -> Response:
        return chat_completion_stream(tokens(run), model="tiny")

    @app.get("/stopped/{run}")
    async def when(run: str) -> dict[str, float | None]:
        return {"at": stopped.get(run)}

    return app
