"""Token streams: a model's output sent as it is produced, over chunked HTTP or SSE.

A language model yields text piece by piece; ``stream_text`` sends each piece as an HTTP
chunk, ``stream_events`` as one Server-Sent Event, and ``chat_completion_stream`` in the
shape OpenAI's chat-completions API streams (``chat.completion.chunk`` objects, then
``data: [DONE]``), so the clients and SDKs written for that API read a Bastion endpoint
unchanged. All three are fed by an async iterable of strings, and all three stop it the
moment the client disconnects: the generator is cancelled where it waits and closed, so its
``finally`` (freeing a GPU slot, cancelling the upstream call) runs at once.

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> Response:
        return chat_completion_stream(generate(body.messages), model=body.model)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from typing import Annotated, Any, Literal

import msgspec

from bastion.http.sse import EventSourceResponse, ServerSentEvent
from bastion.http.streaming import StreamingResponse

#: The last SSE frame of an OpenAI-style stream.
DONE = "[DONE]"


class ContentPart(msgspec.Struct, forbid_unknown_fields=False):
    """One part of a message's content: ``{"type": "text", "text": ...}``, or another kind
    (``image_url``, ``input_audio``, ``file``...) whose fields stay unread."""

    type: str
    text: str | None = None


class ChatMessage(msgspec.Struct, forbid_unknown_fields=False):
    """One message of a conversation, as the chat-completions API sends it: ``content`` is
    text, a list of parts, or null (an assistant turn that only called tools)."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = ""

    @property
    def text(self) -> str:
        """The message's text: its content, or its text parts joined; "" when it has none."""
        content = self.content
        if content is None or isinstance(content, str):
            return content or ""
        return "".join(part.text for part in content if part.type == "text" and part.text)


class ChatRequest(msgspec.Struct, forbid_unknown_fields=False):
    """The fields of a chat-completions request most servers act on; others are ignored, so
    a client's extra options (``temperature``, ``tools``…) never make it a 422."""

    model: str
    #: At least one: a handler reads the last message, and OpenAI refuses an empty list too.
    messages: Annotated[list[ChatMessage], msgspec.Meta(min_length=1)]
    stream: bool = False
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None


def stream_text(
    tokens: AsyncIterable[str],
    *,
    media_type: str = "text/plain",
    headers: Mapping[str, str] | None = None,
) -> StreamingResponse:
    """Each token as one HTTP chunk (``Transfer-Encoding: chunked``); proxies are asked not
    to buffer, so every token reaches the client when it is made."""
    return StreamingResponse(
        _checked(_source(tokens)), headers=_unbuffered(headers), media_type=media_type
    )


def stream_events(
    tokens: AsyncIterable[str],
    *,
    event: str | None = None,
    headers: Mapping[str, str] | None = None,
    ping_interval: float | None = 15,
) -> EventSourceResponse:
    """Each token as one Server-Sent Event (``data: <token>``), for ``EventSource`` readers."""

    async def events() -> AsyncIterator[ServerSentEvent]:
        source = _checked(tokens)
        try:
            async for token in source:
                yield ServerSentEvent(token, event=event)
        finally:
            await _close(source)

    _source(tokens)
    return EventSourceResponse(events(), ping_interval=ping_interval, headers=headers)


def chat_completion_stream(
    tokens: AsyncIterable[str],
    *,
    model: str,
    id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EventSourceResponse:
    """The tokens as OpenAI's streaming chat completion: a first chunk carrying the role,
    one chunk per token (``choices[0].delta.content``), a last one with ``finish_reason``
    ``"stop"``, then ``data: [DONE]``. Keep-alive pings are SSE comments, which its clients
    skip."""
    _source(tokens)
    return EventSourceResponse(chat_completion_chunks(tokens, model=model, id=id), headers=headers)


async def chat_completion_chunks(
    tokens: AsyncIterable[str], *, model: str, id: str | None = None
) -> AsyncIterator[str]:
    """The ``data:`` payloads of ``chat_completion_stream``, for composing your own stream."""
    ident = id or f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        choice: dict[str, Any] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        return msgspec.json.encode(body).decode()

    yield chunk({"role": "assistant", "content": ""})
    source = _checked(tokens)
    try:
        async for token in source:
            yield chunk({"content": token})
    finally:
        await _close(source)
    yield chunk({}, "stop")
    yield DONE


def chat_completion(text: str, *, model: str, id: str | None = None) -> dict[str, Any]:
    """A whole (non-streamed) chat completion, for requests with ``stream: false``."""
    return {
        "id": id or f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }


def _source(tokens: AsyncIterable[str]) -> AsyncIterable[str]:
    """Refuse a source that is not an async iterable when the response is made, not later
    inside a response that has already begun."""
    if not isinstance(tokens, AsyncIterable):
        raise TypeError(
            "A token stream is an async iterable of str, e.g. an `async def` generator; "
            f"got {type(tokens).__name__}"
        )
    return tokens


async def _checked(tokens: AsyncIterable[str]) -> AsyncIterator[str]:
    """The tokens, which must be text (a model that yields bytes or None fails loudly, not as
    garbage); closing this closes ``tokens`` too, which an ``async for`` alone does not."""
    try:
        async for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"A token stream yields str, got {type(token).__name__}")
            yield token
    finally:
        await _close(tokens)


async def _close(source: object) -> None:
    """Close an async generator even while this task is being cancelled, so its ``finally``
    runs now rather than when the garbage collector gets to it."""
    if isinstance(source, AsyncGenerator):
        import anyio

        with anyio.CancelScope(shield=True):
            await source.aclose()


def _unbuffered(headers: Mapping[str, str] | None) -> dict[str, str]:
    result = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    result.update(headers or {})
    return result


__all__ = [
    "DONE",
    "ChatMessage",
    "ContentPart",
    "ChatRequest",
    "chat_completion",
    "chat_completion_chunks",
    "chat_completion_stream",
    "stream_events",
    "stream_text",
]
