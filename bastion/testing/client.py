"""Test clients: httpx clients wired straight to the ASGI app, with lifespan and WebSockets.

``with TestClient(app) as client:`` runs the app's start-up and shutdown around the block;
without ``with`` requests still work, but nothing is started.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from typing import Any

import httpx

from bastion.testing._portal import Portal
from bastion.testing._transport import AsyncASGITransport
from bastion.testing.websocket import AsyncWebSocketSession, WebSocketSession
from bastion.types import ASGIApp, Message


class _Lifespan:
    """Drives the ASGI lifespan protocol and reports a failed start-up as an exception."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._receive: asyncio.Queue[Message] = asyncio.Queue()
        self._sent: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.ensure_future(self.app(scope, self._receive.get, self._sent.put))
        await self._receive.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup.complete")

    async def shutdown(self) -> None:
        await self._receive.put({"type": "lifespan.shutdown"})
        await self._expect("lifespan.shutdown.complete")
        if self._task is not None:
            await self._task

    async def _expect(self, kind: str) -> None:
        assert self._task is not None
        getter = asyncio.ensure_future(self._sent.get())
        await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            error = self._task.exception()
            raise RuntimeError(f"Application lifespan ended without {kind}") from error
        message = getter.result()
        if message["type"] != kind:
            raise RuntimeError(
                f"Application {kind.split('.')[1]} failed: {message.get('message', '')}"
            )


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, stream: Any, portal: Portal) -> None:
        self._iterator = stream.__aiter__()
        self._stream = stream
        self._portal = portal

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self._portal.call(self._iterator.__anext__())
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._portal.call(self._stream.aclose())


class _SyncTransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp, portal: Portal, raise_app_exceptions: bool) -> None:
        self._async = AsyncASGITransport(app, raise_app_exceptions)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        request = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        response = self._portal.call(self._async.handle_async_request(request))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncStream(response.stream, self._portal),
            request=request,
        )


class TestClient(httpx.Client):
    """A synchronous httpx client for an ASGI app (the app runs in a background loop)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        follow_redirects: bool = True,
        websocket_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.portal = Portal()
        weakref.finalize(self, self.portal.close)
        self.websocket_timeout = websocket_timeout
        self._lifespan: _Lifespan | None = None
        transport = _SyncTransport(app, self.portal, raise_server_exceptions)
        super().__init__(
            transport=transport, base_url=base_url, follow_redirects=follow_redirects, **kwargs
        )

    def __enter__(self) -> TestClient:
        super().__enter__()
        self._lifespan = self.portal.call(_make_lifespan(self.app))
        try:
            self.portal.call(self._lifespan.startup())
        except BaseException:
            self.portal.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._lifespan is not None:
                self.portal.call(self._lifespan.shutdown())
        finally:
            super().__exit__(*exc)
            self.portal.close()

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> WebSocketSession:
        session = self.portal.call(
            _make_session(
                self.app,
                self._merge_url(path),
                _headers(self, headers, subprotocols),
                subprotocols or [],
                self.websocket_timeout,
            )
        )
        return WebSocketSession(session, self.portal, owner=self)


class AsyncTestClient(httpx.AsyncClient):
    """An async httpx client for an ASGI app, in the test's own event loop."""

    __test__ = False

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        follow_redirects: bool = True,
        websocket_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.websocket_timeout = websocket_timeout
        self._lifespan: _Lifespan | None = None
        super().__init__(
            transport=AsyncASGITransport(app, raise_server_exceptions),
            base_url=base_url,
            follow_redirects=follow_redirects,
            **kwargs,
        )

    async def __aenter__(self) -> AsyncTestClient:
        await super().__aenter__()
        self._lifespan = _Lifespan(self.app)
        await self._lifespan.startup()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            if self._lifespan is not None:
                await self._lifespan.shutdown()
        finally:
            await super().__aexit__(*exc)

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> AsyncWebSocketSession:
        return AsyncWebSocketSession(
            self.app,
            self._merge_url(path),
            _headers(self, headers, subprotocols),
            subprotocols or [],
            self.websocket_timeout,
        )


def _headers(
    client: httpx.Client | httpx.AsyncClient,
    extra: dict[str, str] | None,
    subprotocols: list[str] | None,
) -> list[tuple[bytes, bytes]]:
    headers = httpx.Headers(client.headers)
    headers.update(extra or {})
    headers["connection"] = "upgrade"
    headers["upgrade"] = "websocket"
    headers["sec-websocket-version"] = "13"
    headers["sec-websocket-key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    if subprotocols:
        headers["sec-websocket-protocol"] = ", ".join(subprotocols)
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    if cookie:
        headers["cookie"] = cookie
    return [(k.lower(), v) for k, v in headers.raw]


async def _make_lifespan(app: ASGIApp) -> _Lifespan:
    return _Lifespan(app)


async def _make_session(*args: Any) -> AsyncWebSocketSession:
    return AsyncWebSocketSession(*args)
