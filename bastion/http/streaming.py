"""A response whose body is produced while it is sent.

While it sends, the response also listens for ``http.disconnect``: a client that goes away
cancels the source where it waits (a model producing its next token, a slow query) and the
source is closed, so its ``finally`` blocks run at once instead of at the next chunk, which
may never come. Read the request body before returning the stream: the listener takes what
the server sends after the response starts.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
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
        if scope["method"] == "HEAD" or await self._stream(receive, send):
            await send({"type": "http.response.body", "body": b""})

    async def _stream(self, receive: Receive, send: Send) -> bool:
        """Send every chunk; False if the client went away first (the source is then
        cancelled where it waits, and closed either way)."""
        import anyio
        import anyio.lowlevel

        gone = False
        error: Exception | None = None

        async def watch_disconnect() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                await anyio.lowlevel.checkpoint()  # a receive that never blocks starves no one
            gone = True
            group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch_disconnect)
                try:
                    async for chunk in iterate(self.body_iterator):
                        data = chunk.encode() if isinstance(chunk, str) else chunk
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                except OSError:  # ASGI 2.4 servers raise it from send: the client has gone
                    gone = True
                except Exception as exc:  # re-raised below, unwrapped from the task group's
                    error = exc
                group.cancel_scope.cancel()
        finally:
            await close(self.body_iterator)
        if error is not None:
            raise error
        return not gone


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


async def close(content: Content) -> None:
    """Close an async generator source, even while this task is being cancelled, so its
    ``finally`` blocks release what they hold."""
    if isinstance(content, AsyncGenerator):
        import anyio

        with anyio.CancelScope(shield=True):
            await content.aclose()


def _next(iterator: Any, done: object) -> Any:
    return next(iterator, done)
