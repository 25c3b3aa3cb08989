"""Test clients: httpx clients wired straight to the ASGI app, with lifespan and WebSockets.

``with TestClient(app) as client:`` runs the app's start-up and shutdown around the block;
without ``with`` requests still work, but nothing is started. ``TestClient`` runs the app on
an event loop in a background thread (its portal), so plain synchronous tests can drive it;
``AsyncTestClient`` runs it in the test's own loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from bastion.testing._portal import Portal
from bastion.testing._transport import DISCONNECT_GRACE, AsyncASGITransport
from bastion.testing.websocket import (
    AsyncWebSocketSession,
    WebSocketSession,
    handshake,
)
from bastion.types import ASGIApp, Message


class _Lifespan:
    """Drives the ASGI lifespan protocol; a failed start-up or shutdown raises in the test.

    An app that ends (or raises) before reading its first lifespan message does not speak
    the protocol, as a raw HTTP-only app; the client goes on without lifespan then, as
    servers do.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        #: The lifespan state (ASGI ``scope["state"]``); requests get a shallow copy.
        self.state: dict[str, Any] = {}
        self.supported = True
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._listening = False

    async def _receive(self) -> Message:
        self._listening = True
        return await self._to_app.get()

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self.state
        self._task = asyncio.ensure_future(self.app(scope, self._receive, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        await self._expect("startup")

    async def shutdown(self) -> None:
        if self._task is None or not self.supported:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._expect("shutdown")
        done, _ = await asyncio.wait({self._task}, timeout=DISCONNECT_GRACE)
        if not done:
            self._task.cancel()

    async def _expect(self, phase: str) -> None:
        task = self._task
        if task is None:
            return
        getter = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            error = None if task.cancelled() else task.exception()
            if phase == "startup" and not self._listening:
                self.supported = False  # the app does not speak lifespan: go on without it
                return
            if error is not None:
                raise error
            raise RuntimeError(
                f"The app's lifespan returned without sending lifespan.{phase}.complete"
            )
        message = getter.result()
        if message["type"] == f"lifespan.{phase}.failed":
            raise RuntimeError(f"Application {phase} failed: {message.get('message', '')}")
        if message["type"] != f"lifespan.{phase}.complete":
            raise RuntimeError(
                f"The app sent {message['type']!r} where lifespan.{phase}.complete was expected"
            )


class _SyncStream(httpx.SyncByteStream):
    """The async response body, one chunk at a time through the portal."""

    def __init__(self, stream: httpx.AsyncByteStream, portal: Portal) -> None:
        self._iterator = stream.__aiter__()
        self._stream = stream
        self._portal = portal

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self._portal.call(_anext(self._iterator))
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self._portal.call(self._stream.aclose())


async def _anext(iterator: Any) -> bytes:
    chunk: bytes = await iterator.__anext__()
    return chunk


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class _SyncTransport(httpx.BaseTransport):
    """Hands each request to the async transport on the portal's loop; owns that loop."""

    def __init__(self, app: ASGIApp, portal: Portal, raise_app_exceptions: bool) -> None:
        self.inner = AsyncASGITransport(app, raise_app_exceptions)
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            # A sync body (a generator) is read here, as it cannot be iterated from the
            # loop's thread; its chunks still reach the app as separate messages.
            request.stream = _Chunks(list(request.stream))
        response = self.portal.call(self.inner.handle_async_request(request))
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # pragma: no cover - always async
            raise TypeError("the ASGI transport returned a synchronous stream")
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncStream(stream, self.portal),
            request=request,
        )

    def close(self) -> None:
        stop_portal(self.portal)


class TestClient(httpx.Client):
    """A synchronous httpx client for an ASGI app (the app runs on a background loop).

    ``raise_server_exceptions=True`` re-raises an exception that escapes the app in the test
    (for a Bastion ``App``: after its 500 is sent); ``False`` returns the 500 instead.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        follow_redirects: bool = True,
        websocket_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.portal = Portal()
        weakref.finalize(self, stop_portal, self.portal)
        self.raise_server_exceptions = raise_server_exceptions
        self.websocket_timeout = websocket_timeout
        self._asgi = _SyncTransport(app, self.portal, raise_server_exceptions)
        self._lifespan: _Lifespan | None = None
        super().__init__(
            transport=self._asgi,
            base_url=base_url,
            headers=headers,
            cookies=cookies,
            follow_redirects=follow_redirects,
            **kwargs,
        )

    def __enter__(self) -> TestClient:
        super().__enter__()
        lifespan = self._lifespan = _Lifespan(self.app)
        try:
            self.portal.call(lifespan.startup())
        except BaseException:
            self.close()
            raise
        if lifespan.supported:
            self._asgi.inner.state = lifespan.state
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._lifespan is not None:
                self.portal.call(self._lifespan.shutdown())
        finally:
            super().__exit__(*exc)

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> WebSocketSession:
        """``with client.websocket_connect("/ws") as ws:``; ``WebSocketDenied`` if refused.

        Each receive waits at most ``timeout`` seconds (the client's ``websocket_timeout``).
        """
        request = handshake(self.build_request("GET", path, headers=headers), subprotocols or [])
        wait = self.websocket_timeout if timeout is None else timeout
        args = (self.app, request, subprotocols or [], wait, self.raise_server_exceptions)
        session = self.portal.call(_session(*args, self._asgi.inner.state))
        return WebSocketSession(session, self.portal, owner=self)


class AsyncTestClient(httpx.AsyncClient):
    """An async httpx client for an ASGI app, in the test's own event loop."""

    __test__ = False

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        follow_redirects: bool = True,
        websocket_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.websocket_timeout = websocket_timeout
        self._asgi = AsyncASGITransport(app, raise_server_exceptions)
        self._lifespan: _Lifespan | None = None
        super().__init__(
            transport=self._asgi,
            base_url=base_url,
            headers=headers,
            cookies=cookies,
            follow_redirects=follow_redirects,
            **kwargs,
        )

    async def __aenter__(self) -> AsyncTestClient:
        await super().__aenter__()
        lifespan = self._lifespan = _Lifespan(self.app)
        try:
            await lifespan.startup()
        except BaseException:
            await self.aclose()
            raise
        if lifespan.supported:
            self._asgi.state = lifespan.state
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
        timeout: float | None = None,
    ) -> AsyncWebSocketSession:
        """``async with client.websocket_connect("/ws") as ws:``; ``WebSocketDenied`` if refused."""
        request = handshake(self.build_request("GET", path, headers=headers), subprotocols or [])
        return AsyncWebSocketSession(
            self.app,
            request,
            subprotocols or [],
            self.websocket_timeout if timeout is None else timeout,
            self.raise_server_exceptions,
            self._asgi.state,
        )


async def _session(*args: Any) -> AsyncWebSocketSession:
    """Built on the portal's loop, where its queues will be used."""
    return AsyncWebSocketSession(*args)


def stop_portal(portal: Portal) -> None:
    """Cancel what still runs on the portal's loop (open streams, sockets), then stop it."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if portal.loop.is_closed():
        return
    if running is portal.loop:  # garbage-collected on the loop's own thread
        portal.loop.stop()
        return
    if portal.loop.is_running():
        try:
            portal.call(_cancel_everything(), timeout=5)
        except Exception:
            pass
    portal.close()


async def _cancel_everything() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=DISCONNECT_GRACE)
    await asyncio.get_running_loop().shutdown_asyncgens()
