"""Run an ASGI app in-process for httpx: one HTTP exchange, streamed back as it is sent.

The app runs as a task beside the client. Its body chunks go through a small bounded queue,
so a client reading ``client.stream(...)`` sees each chunk as it is sent and an endless
event stream never piles up in memory. Closing the response early sends ``http.disconnect``;
an app that does not end within ``DISCONNECT_GRACE`` seconds after that is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import httpx

from bastion.app import RERAISE
from bastion.types import ASGIApp, Message, Scope

#: Seconds an app gets to finish after the client went away, before it is cancelled.
DISCONNECT_GRACE = 0.5
CLIENT = ("127.0.0.1", 50000)
_END = object()


def build_scope(request: httpx.Request, kind: str, state: dict[str, Any] | None) -> Scope:
    """The ASGI scope a server would build for ``request`` (``kind`` http or websocket)."""
    url = request.url
    raw_path = url.raw_path.split(b"?", 1)[0]
    default_port = 443 if url.scheme in ("https", "wss") else 80
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": url.scheme,
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": url.query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "client": CLIENT,
        "server": (url.host, url.port or default_port),
        # Lifespan state, shallow-copied per connection as the ASGI spec asks.
        "state": dict(state) if state is not None else {},
    }
    if kind == "http":
        scope["method"] = request.method
    return scope


class _Exchange:
    """One request/response between the client and the app task."""

    def __init__(self, request: httpx.Request, raise_app_exceptions: bool) -> None:
        self.raise_app_exceptions = raise_app_exceptions
        self.body = _chunks(request.stream)
        self.ahead: bytes | None = None
        self.request_complete = False
        self.chunks: asyncio.Queue[Any] = asyncio.Queue(maxsize=4)
        self.started = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.response_complete = False
        self.task: asyncio.Task[None] | None = None
        self.reader_gone = False
        self.finished = False

    async def receive(self) -> Message:
        if not self.request_complete:
            if self.ahead is None:
                self.ahead = await anext(self.body, None)
            chunk, self.ahead = self.ahead, None
            if chunk is not None:
                self.ahead = await anext(self.body, None)
            self.request_complete = self.ahead is None
            return {
                "type": "http.request",
                "body": chunk or b"",
                "more_body": self.ahead is not None,
            }
        # As a server does: nothing more until the response is done or the client leaves.
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.disconnected.is_set() and not self.response_complete:
            raise OSError("The test client closed the response; stop sending")
        kind = message["type"]
        if kind == "http.response.start":
            if self.started.is_set():
                raise RuntimeError("The app sent http.response.start twice; send it once")
            self.status = int(message["status"])
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            self.started.set()
        elif kind == "http.response.body":
            if not self.started.is_set():
                raise RuntimeError("The app sent http.response.body before http.response.start")
            if self.response_complete:
                raise RuntimeError("The app sent http.response.body after the response ended")
            if message.get("body") and not self.reader_gone:
                await self.chunks.put(bytes(message["body"]))
            if not message.get("more_body", False):
                self.response_complete = True
                self.disconnected.set()
                if not self.reader_gone:
                    await self.chunks.put(_END)

    async def finish(self, disconnect: bool = False) -> None:
        """Wait for the app to end (or cancel it after a disconnect); surface its error."""
        if self.finished or self.task is None:
            return
        self.finished = True
        if disconnect:
            self.disconnected.set()
            done, _ = await asyncio.wait({self.task}, timeout=DISCONNECT_GRACE)
            if not done:
                self.task.cancel()
                await asyncio.wait({self.task})
            if not self.task.cancelled():
                self.task.exception()  # the app's error after a disconnect is not the test's
            return
        await asyncio.wait({self.task})
        error = None if self.task.cancelled() else self.task.exception()
        if error is not None and self.raise_app_exceptions:
            raise error


async def _chunks(stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    """The request body; a sync client's body was read into memory before it got here."""
    if isinstance(stream, httpx.AsyncByteStream):
        async for chunk in stream:
            yield chunk
    else:
        for chunk in stream:
            yield chunk


def _drain(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        queue.get_nowait()


class ASGIResponseStream(httpx.AsyncByteStream):
    """Body chunks as the app sends them; closing it early tells the app the client left."""

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        task = exchange.task
        while task is not None:
            if task.done() and exchange.chunks.empty():
                break  # the app ended without finishing the body: it failed, or just returned
            getter = asyncio.ensure_future(exchange.chunks.get())
            if not task.done():
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
            chunk = await getter
            if chunk is _END:
                break
            yield chunk
        await exchange.finish()

    async def aclose(self) -> None:
        exchange = self._exchange
        exchange.reader_gone = True
        _drain(exchange.chunks)  # frees an app blocked on a full queue
        await exchange.finish(disconnect=not exchange.response_complete)


class AsyncASGITransport(httpx.AsyncBaseTransport):
    """httpx transport that calls the ASGI app directly, in the running event loop.

    ``state`` is the lifespan state (set by the test client after start-up); each request's
    scope gets a shallow copy of it.
    """

    def __init__(self, app: ASGIApp, raise_app_exceptions: bool = True) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.state: dict[str, Any] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(request, self.raise_app_exceptions)
        scope = build_scope(request, "http", self.state)
        scope[RERAISE] = self.raise_app_exceptions
        task = exchange.task = asyncio.ensure_future(
            self.app(scope, exchange.receive, exchange.send)
        )
        started = asyncio.ensure_future(exchange.started.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if not exchange.started.is_set():
            started.cancel()
            await exchange.finish()  # raises the app's error if it had one and we should
            if self.raise_app_exceptions and (task.cancelled() or task.exception() is None):
                raise RuntimeError(
                    "The ASGI app returned without sending http.response.start; "
                    "every HTTP request needs a response"
                )
            return httpx.Response(500, content=b"Internal Server Error", request=request)
        started.cancel()
        return httpx.Response(
            exchange.status,
            headers=exchange.headers,
            stream=ASGIResponseStream(exchange),
            request=request,
        )
