import asyncio

import pytest

from bastion import App, Settings
from bastion.http.sse import EventSourceResponse, ServerSentEvent
from bastion.testing import AsyncTestClient, TestClient


def test_event_encoding():
    event = ServerSentEvent("line1\nline2", event="update", id="7", retry=1000)
    assert event.encode() == b"event: update\nid: 7\nretry: 1000\ndata: line1\ndata: line2\n\n"
    assert ServerSentEvent({"a": 1}).encode() == b'data: {"a":1}\n\n'
    assert ServerSentEvent(comment="hi").encode() == b": hi\n\n"


def test_event_and_id_cannot_hold_line_breaks():
    with pytest.raises(ValueError, match="line break"):
        ServerSentEvent("x", event="a\nb")


def test_stream_of_events():
    app = App(settings=Settings(profile="test"))

    @app.get("/events")
    async def events() -> EventSourceResponse:
        async def source():
            yield ServerSentEvent("one", id="1")
            yield "two"
            yield {"n": 3}

        return EventSourceResponse(source())

    response = TestClient(app).get("/events")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.text == 'id: 1\ndata: one\n\ndata: two\n\ndata: {"n":3}\n\n'


async def test_ping_while_idle_and_disconnect_closes_the_source():
    closed = asyncio.Event()
    app = App(settings=Settings(profile="test"))

    @app.get("/slow")
    async def slow() -> EventSourceResponse:
        async def source():
            try:
                yield "first"
                await asyncio.sleep(30)
                yield "never"
            finally:
                closed.set()

        return EventSourceResponse(source(), ping_interval=0.05)

    async with AsyncTestClient(app) as client:
        async with client.stream("GET", "/slow") as response:
            received = b""
            async for chunk in response.aiter_bytes():
                received += chunk
                if b": ping" in received:
                    break
    assert received.startswith(b"data: first\n\n")
    await asyncio.wait_for(closed.wait(), 5)
