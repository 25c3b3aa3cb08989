"""Run an ASGI app in-process for httpx: one HTTP exchange, streamed back as it is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import httpx

from bastion.app import RERAISE
from bastion.types import ASGIApp, Message

_DONE = object()


def build_scope(request: httpx.Request, kind: str = "http") -> dict[str, Any]:
    url = request.url
    headers = [(k.lower(), v) for k, v in request.headers.raw]
    port = url.port or (443 if url.scheme in ("https", "wss") else 80)
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": url.scheme,
        "path": unquote(url.path),
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": (url.host, port),
        "state": {},
    }
    if kind == "http":
        scope["method"] = request.method
    return scope


class ASGIResponseStream(httpx.AsyncByteStream):
    """Body chunks as the app sends them; closing it tells the app the client left."""

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._exchange.chunks.get()
            if chunk is _DONE:
                break
            yield chunk
        await self._exchange.finish()

    async def aclose(self) -> None:
        await self._exchange.finish(disconnect=True)


class _Exchange:
    def __init__(self, app: ASGIApp, raise_app_exceptions: bool) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions
        self.chunks: asyncio.Queue[Any] = asyncio.Queue()
        self.started = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self, scope: dict[str, Any], body: bytes) -> None:
        sent_body = False

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await self.disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = list(message.get("headers", []))
                self.started.set()
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await self.chunks.put(message["body"])
                if not message.get("more_body", False):
                    await self.chunks.put(_DONE)

        try:
            await self.app(scope, receive, send)
        finally:
            await self.chunks.put(_DONE)

    async def finish(self, disconnect: bool = False) -> None:
        if disconnect:
            self.disconnected.set()
        if self.task is None:
            return
        if disconnect and not self.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=5)
            except TimeoutError:
                self.task.cancel()
        if self.task.done() and not self.task.cancelled():
            exc = self.task.exception()
            if exc is not None and self.raise_app_exceptions and not disconnect:
                raise exc


class AsyncASGITransport(httpx.AsyncBaseTransport):
    """httpx transport that calls the ASGI app directly, in the running event loop."""

    def __init__(self, app: ASGIApp, raise_app_exceptions: bool = True) -> None:
        self.app = app
        self.raise_app_exceptions = raise_app_exceptions

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        exchange = _Exchange(self.app, self.raise_app_exceptions)
        scope = build_scope(request)
        scope[RERAISE] = self.raise_app_exceptions
        exchange.task = asyncio.ensure_future(exchange.run(scope, body))
        started = asyncio.ensure_future(exchange.started.wait())
        await asyncio.wait({exchange.task, started}, return_when=asyncio.FIRST_COMPLETED)
        if not exchange.started.is_set():
            started.cancel()
            exc = exchange.task.exception()
            if exc is not None and self.raise_app_exceptions:
                raise exc
            return httpx.Response(500, content=b"Internal Server Error", request=request)
        started.cancel()
        return httpx.Response(
            exchange.status,
            headers=exchange.headers,
            stream=ASGIResponseStream(exchange),
            request=request,
        )
