"""Token streams: their wire shapes, and the generator stopped when the client leaves.

The live test serves ``live_streaming_app`` with uvicorn, reads a few tokens over a raw
socket, closes it, and compares the server's record of when the generator's ``finally`` ran
with the moment of the close (both on the system-wide monotonic clock).
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bastion import App, Response, Settings
from bastion.ai.streaming import (
    DONE,
    ChatRequest,
    chat_completion,
    chat_completion_chunks,
    chat_completion_stream,
    stream_events,
    stream_text,
)
from bastion.testing import TestClient
from tests.channels._live import uvicorn


async def words(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


def data_lines(body: str) -> list[str]:
    return [line[len("data: ") :] for line in body.splitlines() if line.startswith("data: ")]


def make_app() -> App:
    app = App(settings=Settings(profile="test"))

    @app.get("/text")
    async def text() -> Response:
        return stream_text(words("Hel", "lo", " world"))

    @app.get("/events")
    async def events() -> Response:
        return stream_events(words("one", "two\nlines"), ping_interval=None)

    @app.post("/v1/echo")
    async def echo(body: ChatRequest) -> list[str]:
        return [message.text for message in body.messages]

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> Response | dict[str, object]:
        reply = words("Hi", " there")
        if not body.stream:
            return chat_completion("Hi there", model=body.model, id="chatcmpl-1")
        return chat_completion_stream(reply, model=body.model, id="chatcmpl-1")

    return app


def test_text_streams_as_chunks_unbuffered() -> None:
    client = TestClient(make_app())
    with client.stream("GET", "/text") as response:
        chunks = list(response.iter_bytes())
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["x-accel-buffering"] == "no"
    assert b"".join(chunks) == b"Hello world"


def test_events_send_one_token_each() -> None:
    response = TestClient(make_app()).get("/events")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text == "data: one\n\ndata: two\ndata: lines\n\n"


def test_chat_completion_stream_has_openai_shape() -> None:
    client = TestClient(make_app())
    request = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = client.post("/v1/chat/completions", json=request)
    payloads = data_lines(response.text)
    assert payloads[-1] == DONE
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["id"] for c in chunks} == {"chatcmpl-1"}
    assert {c["model"] for c in chunks} == {"tiny"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hi there"
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_chat_completion_without_stream_is_one_object() -> None:
    client = TestClient(make_app())
    request = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": 1}
    body = client.post("/v1/chat/completions", json=request).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hi there"}


def test_chat_request_refuses_a_bad_role_with_a_problem() -> None:
    client = TestClient(make_app())
    request = {"model": "tiny", "messages": [{"role": "wizard", "content": "hi"}]}
    response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "messages" in response.text


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"model": "tiny", "messages": []}, "body.messages"),
        (
            {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            "body.max_tokens",
        ),
    ],
)
def test_chat_request_refuses_no_messages_and_no_tokens(request_body: dict, field: str) -> None:
    """A handler reads ``messages[-1]``: an empty list is the client's 422, not an IndexError
    and a 500."""
    client = TestClient(make_app())
    response = client.post("/v1/chat/completions", json=request_body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_source_that_is_not_async_is_refused_when_the_response_is_made() -> None:
    with pytest.raises(TypeError, match="async iterable of str"):
        stream_text(["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async iterable of str"):
        chat_completion_stream(iter(["a"]), model="m")  # type: ignore[arg-type]


async def test_a_token_that_is_not_text_fails_loudly() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "ok"
        yield None  # type: ignore[misc]

    chunks = chat_completion_chunks(broken(), model="m")
    assert json.loads(await anext(chunks))["choices"][0]["delta"]["role"] == "assistant"
    await anext(chunks)
    with pytest.raises(TypeError, match="yields str, got NoneType"):
        await anext(chunks)


async def test_closing_the_chunks_closes_the_model() -> None:
    closed = asyncio.Event()

    async def model() -> AsyncIterator[str]:
        try:
            while True:
                yield "x"
        finally:
            closed.set()

    chunks = chat_completion_chunks(model(), model="m")
    await anext(chunks)
    await anext(chunks)
    await chunks.aclose()
    assert closed.is_set()


def test_test_client_leaving_early_stops_the_generator() -> None:
    stopped = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                yield "tok "
                await asyncio.sleep(0.01)
        finally:
            stopped.set()

    app = App(settings=Settings(profile="test"))

    @app.get("/endless")
    async def endless_route() -> Response:
        return stream_text(endless())

    with TestClient(app).stream("GET", "/endless") as response:
        for chunk in response.iter_bytes():
            if chunk:
                break
    assert stopped.is_set()


def _read_tokens_then_close(base: str, path: str, tokens: int = 3) -> float:
    """Open ``path`` on a raw socket, read until ``tokens`` tokens arrived, close the
    connection and return the monotonic time of the close."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        deadline = time.monotonic() + 10
        while received.count(b"tok") < tokens:
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: no tokens within 10 s; got {received[:200]!r}")
            received += sock.recv(4096)
        assert received.startswith(b"HTTP/1.1 200"), received[:200]
        closed_at = time.monotonic()  # read before the FIN goes out, so no delay is negative
        sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.close()
    return closed_at


def _stopped_at(base: str, run: str) -> float:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        at = httpx.get(f"{base}/stopped/{run}", timeout=5).json()["at"]
        if at is not None:
            return float(at)
        time.sleep(0.01)
    raise AssertionError(f"run {run}: the generator was never stopped after the disconnect")


@pytest.mark.parametrize("kind", ["text", "events", "chat"])
def test_generator_stops_within_100ms_of_the_client_disconnecting(kind: str) -> None:
    """Chunked HTTP, SSE and the chat-completions stream on uvicorn: the generator's
    ``finally`` runs within 100 ms of the client closing its connection (median of five
    disconnects, so one scheduling hiccup on a loaded machine does not decide; none may
    take a whole second)."""
    delays = []
    with uvicorn("tests.ai.live_streaming_app:create_app") as base:
        for n in range(5):
            run = f"{kind}-{n}"
            closed_at = _read_tokens_then_close(base, f"/{kind}/{run}")
            delays.append(_stopped_at(base, run) - closed_at)
    assert all(delay >= 0 for delay in delays), delays  # stopped by the close, not before
    assert statistics.median(delays) < 0.1, delays
    assert max(delays) < 1.0, delays


def test_content_as_parts_or_null_is_read_as_text() -> None:
    """What OpenAI's clients send: text parts (with images beside them), and null content
    for an assistant turn that only called tools."""
    client = TestClient(make_app())
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is "},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "in this picture?"},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "tool", "content": [{"type": "text", "text": "a cat"}], "tool_call_id": "c1"},
        {"role": "user", "content": []},
    ]
    response = client.post("/v1/echo", json={"model": "tiny", "messages": messages})
    assert response.status_code == 201, response.text  # a POST creates, by default
    assert response.json() == ["Be brief.", "What is in this picture?", "", "a cat", ""]


@pytest.mark.parametrize("content", [42, {"type": "text"}, [{"text": "no type"}], [{"type": "text", "text": 7}]])
def test_content_of_another_shape_is_a_422_naming_it(content: object) -> None:
    client = TestClient(make_app())
    request = {"model": "tiny", "messages": [{"role": "user", "content": content}]}
    response = client.post("/v1/echo", json=request)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "messages" in response.text and "content" in response.text
