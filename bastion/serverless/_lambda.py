"""``lambda_handler(app)``: a Bastion (or any ASGI) app as an AWS Lambda function.

One event loop and one lifespan per container: the app starts at the first invocation and
stays started across warm invocations (its pools, caches and clients are reused); shutdown
runs when the runtime's process exits. Responses are buffered: the managed Python runtime
cannot stream a reply (see docs/serverless.md).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from typing import Any

from bastion.serverless._events import (
    EventError,
    check_base_path,
    detect,
    problem,
    read,
    reply,
)
from bastion.types import ASGIApp, Message

logger = logging.getLogger("bastion.serverless")


class LambdaHandler:
    """Call it as Lambda's handler: ``handler(event, context) -> response payload``."""

    def __init__(self, app: ASGIApp, *, lifespan: bool = True, base_path: str = "") -> None:
        self.app = app
        self.lifespan = lifespan
        self.base_path = check_base_path(base_path)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_queue: asyncio.Queue[Message] | None = None
        self._replies: asyncio.Queue[Message] | None = None
        self._started = False

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        try:
            request = read(event, self.base_path)
        except EventError as exc:
            logger.warning("Refused a Lambda event: %s", exc)
            try:
                source = detect(event)
            except EventError:
                return problem(400, str(exc))
            multi = bool(event.get("multiValueHeaders"))
            return problem(400, str(exc), source, multi)
        if context is not None:
            request.scope["aws.context"] = context
        loop = self._start()
        status, headers, body = loop.run_until_complete(self._http(request.scope, request.body))
        return reply(request, status, headers, body)

    # -- the container's loop and lifespan -------------------------------------------------
    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        if self.lifespan and not self._started:
            self._loop.run_until_complete(self._startup())
            self._started = True
            atexit.register(self.close)
        return self._loop

    async def _startup(self) -> None:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        replies: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_queue, self._replies = queue, replies
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}

        async def send(message: Message) -> None:
            await replies.put(message)

        self._lifespan_task = asyncio.ensure_future(self.app(scope, queue.get, send))
        await queue.put({"type": "lifespan.startup"})
        message = await replies.get()
        if message["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"The app failed to start: {message.get('message', '')}")

    def close(self) -> None:
        """Run the app's shutdown (once); the runtime calls it at exit."""
        queue, replies = self._lifespan_queue, self._replies
        if not self._started or self._loop is None or queue is None or replies is None:
            return
        self._started = False

        async def shutdown() -> None:
            await queue.put({"type": "lifespan.shutdown"})
            await replies.get()

        self._loop.run_until_complete(shutdown())
        self._loop.close()
        self._loop = None

    # -- one request ---------------------------------------------------------------------
    async def _http(
        self, scope: dict[str, Any], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        done = asyncio.Event()
        sent = False
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        done.set()
        return status, headers, b"".join(chunks)


def lambda_handler(app: ASGIApp, *, lifespan: bool = True, base_path: str = "") -> LambdaHandler:
    """The Lambda handler for an app: ``handler = lambda_handler(app)``.

    ``base_path``: behind an API Gateway custom domain with a base path mapping (``/v1``),
    that mapping; a stage needs no option. Cheap to call at import: the loop and the app's
    start-up wait for the first event.
    """
    return LambdaHandler(app, lifespan=lifespan, base_path=base_path)
