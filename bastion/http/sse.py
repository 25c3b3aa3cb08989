"""Server-Sent Events: ``return EventSourceResponse(events())`` with an async generator.

The source yields ``ServerSentEvent`` objects, strings (sent as ``data``) or any other
JSON-able value such as a dict (sent as JSON ``data``). While it is idle a ``: ping`` comment
goes out every ``ping_interval`` seconds so proxies keep the connection open. When the client
disconnects, the source is cancelled where it waits and closed (``aclose``), so its
``finally`` blocks release what it holds.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from typing import Any

import anyio

from bastion.http.response import Response, encode_json
from bastion.types import Receive, Scope, Send

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the three line ends an EventSource reader accepts
_PING = b": ping\n\n"


class ServerSentEvent:
    """One event: ``ServerSentEvent({"progress": 50}, event="progress", id="7")``.

    ``data`` that is not a string is encoded as JSON; a multi-line string becomes several
    ``data:`` lines, which the browser joins back with ``\\n``. ``retry`` (milliseconds) tells
    the browser how long to wait before reconnecting; ``comment`` is ignored by browsers.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if event is not None and _LINE_BREAK.search(event):
            raise ValueError(f"An SSE event name cannot contain a line break: {event!r}")
        if id is not None and (_LINE_BREAK.search(id) or "\x00" in id):
            raise ValueError(f"An SSE id cannot contain a line break or NUL: {id!r}")
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int)):
            raise ValueError(f"An SSE retry is a whole number of milliseconds, not {retry!r}")
        if retry is not None and retry < 0:
            raise ValueError(f"An SSE retry cannot be negative: {retry}")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """The event as it goes on the wire, blank line included."""
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            text = self.data if isinstance(self.data, str) else encode_json(self.data).decode()
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(text))
        return ("\n".join(lines) + "\n\n").encode()

    def __repr__(self) -> str:
        return f"ServerSentEvent({self.data!r}, event={self.event!r}, id={self.id!r})"


class EventSourceResponse(Response):
    """A ``text/event-stream`` response fed by an async iterable, until it ends or the client
    goes away. ``ping_interval=None`` turns the keep-alive comments off."""

    __slots__ = ("content", "ping_interval")

    def __init__(
        self,
        content: AsyncIterable[Any],
        ping_interval: float | None = 15,
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        if not isinstance(content, AsyncIterable):
            raise TypeError(
                "EventSourceResponse takes an async iterable, e.g. an `async def` generator "
                f"that yields events; got {type(content).__name__}"
            )
        if ping_interval is not None and not ping_interval > 0:
            raise ValueError(
                f"ping_interval must be a positive number of seconds or None, not {ping_interval!r}"
            )
        super().__init__(b"", status_code, headers, "text/event-stream")
        given = {name for name, _ in self.raw_headers}
        for name, value in ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")):
            if name not in given:  # the caller's own value wins
                self.raw_headers.append((name, value))
        self.content = content
        self.ping_interval = ping_interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = aiter(self.content)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope.get("method") == "HEAD" or await self._stream(source, receive, send):
                await send({"type": "http.response.body", "body": b""})
        finally:
            await _close(source)

    async def _stream(self, source: AsyncIterator[Any], receive: Receive, send: Send) -> bool:
        """Send every event, with pings while idle; False if the client went away first."""
        lock = anyio.Lock()  # the pinger and the source never interleave their frames
        last_sent = anyio.current_time()
        gone = False
        error: Exception | None = None

        async def write(frame: bytes) -> None:
            nonlocal last_sent, gone
            async with lock:
                try:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                except OSError:  # the server says the client has gone
                    gone = True
                    group.cancel_scope.cancel()
                last_sent = anyio.current_time()

        async def watch_disconnect() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            group.cancel_scope.cancel()

        async def ping(interval: float) -> None:
            while True:
                await anyio.sleep(last_sent + interval - anyio.current_time())
                if anyio.current_time() - last_sent >= interval:
                    await write(_PING)

        async with anyio.create_task_group() as group:
            group.start_soon(watch_disconnect)
            if self.ping_interval is not None:
                group.start_soon(ping, self.ping_interval)
            try:
                async for item in source:
                    await write(_frame(item))
            except Exception as exc:  # re-raised below, unwrapped from the task group's group
                error = exc
            group.cancel_scope.cancel()
        if error is not None:
            raise error
        return not gone


def _frame(item: Any) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encode()
    return ServerSentEvent(item).encode()


async def _close(source: AsyncIterator[Any]) -> None:
    """Close an async generator source, even if this task is being cancelled."""
    if isinstance(source, AsyncGenerator):
        with anyio.CancelScope(shield=True):
            await source.aclose()
