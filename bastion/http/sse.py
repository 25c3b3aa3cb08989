"""Server-Sent Events: a streaming response of ``event:``/``data:`` frames.

While the source is idle a ``: ping`` comment goes out every ``ping_interval`` seconds, so
proxies keep the connection open; when the client disconnects the source generator is closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any

from bastion.http.response import Response, encode_json
from bastion.types import Receive, Scope, Send


class ServerSentEvent:
    """One event. ``data`` that is not a string is sent as JSON."""

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        for name, value in (("event", event), ("id", id)):
            if value is not None and ("\n" in value or "\r" in value):
                raise ValueError(f"An SSE {name} cannot contain a line break")
        self.data, self.event, self.id, self.retry, self.comment = data, event, id, retry, comment

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in self.comment.splitlines() or [""])
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        if self.data is not None:
            text = self.data if isinstance(self.data, str) else encode_json(self.data).decode()
            lines.extend(f"data: {line}" for line in text.replace("\r\n", "\n").split("\n"))
        return ("\n".join(lines) + "\n\n").encode()


class EventSourceResponse(Response):
    """``return EventSourceResponse(events())`` where ``events`` yields events, str or dicts."""

    __slots__ = ("content", "ping_interval")

    def __init__(
        self,
        content: AsyncIterable[ServerSentEvent | str | Mapping[str, Any]],
        *,
        ping_interval: float | None = 15.0,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(b"", status_code, headers, "text/event-stream")
        self.raw_headers.extend([(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")])
        self.content = content
        self.ping_interval = ping_interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import anyio

        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        clock = anyio.current_time
        last_sent = clock()
        disconnected = False

        async with anyio.create_task_group() as group:

            async def produce() -> None:
                nonlocal last_sent
                iterator = aiter(self.content)
                try:
                    async for item in iterator:
                        await send(
                            {"type": "http.response.body", "body": _frame(item), "more_body": True}
                        )
                        last_sent = clock()
                finally:
                    close = getattr(iterator, "aclose", None)
                    if close is not None:
                        with anyio.CancelScope(shield=True):
                            await close()
                group.cancel_scope.cancel()

            async def ping(interval: float) -> None:
                nonlocal last_sent
                while True:
                    await anyio.sleep(interval - (clock() - last_sent))
                    if clock() - last_sent >= interval:
                        await send(
                            {"type": "http.response.body", "body": b": ping\n\n", "more_body": True}
                        )
                        last_sent = clock()

            async def watch_disconnect() -> None:
                nonlocal disconnected
                while (await receive())["type"] != "http.disconnect":
                    pass
                disconnected = True
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            if self.ping_interval is not None:
                group.start_soon(ping, self.ping_interval)
            group.start_soon(produce)
        if not disconnected:
            await send({"type": "http.response.body", "body": b""})
        if self.background is not None:
            await self.background()


def _frame(item: ServerSentEvent | str | Mapping[str, Any]) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encode()
    return ServerSentEvent(item).encode()
