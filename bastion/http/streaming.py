"""A response whose body is produced while it is sent."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from bastion.http.response import Response
from bastion.types import Receive, Scope, Send

Content = AsyncIterable[bytes | str] | Iterable[bytes | str]


class StreamingResponse(Response):
    """Send chunks from an (async) iterable as they come; sync iterables run in a thread."""

    __slots__ = ("body_iterator",)

    def __init__(
        self,
        content: Content,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(b"", status_code, headers, media_type)
        self.body_iterator = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope["method"] != "HEAD":
            async for chunk in iterate(self.body_iterator):
                data = chunk.encode() if isinstance(chunk, str) else chunk
                await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def iterate(content: Content) -> AsyncIterator[bytes | str]:
    """Chunks of an async iterable, or of a sync one read in a worker thread."""
    if isinstance(content, AsyncIterable):
        async for chunk in content:
            yield chunk
        return
    import anyio.to_thread

    iterator = iter(content)
    done = object()
    while (chunk := await anyio.to_thread.run_sync(_next, iterator, done)) is not done:
        yield chunk


def _next(iterator: Any, done: object) -> Any:
    return next(iterator, done)
