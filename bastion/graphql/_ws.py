"""Subscriptions over WebSocket with the graphql-transport-ws protocol (graphql-ws's).

One connection: the client offers the ``graphql-transport-ws`` subprotocol, sends
``connection_init`` within the timeout (else 4408), gets ``connection_ack``, then runs
operations with ``subscribe``; each answers ``next`` messages and a ``complete`` (or one
``error`` when the document is refused). ``complete`` from the client stops one. Protocol
breaches close the socket with the spec's codes: 4400 bad message, 4401 subscribe before the
ack, 4409 a duplicate id, 4429 a second ``connection_init``. The context is built once for
the connection (from the handshake request), through the same dependency as HTTP's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec
from graphql import GraphQLError

from bastion.graphql._context import Context
from bastion.graphql._result import format_error, response_document
from bastion.http.request import Request
from bastion.websockets.websocket import WebSocket

if TYPE_CHECKING:
    from bastion.graphql.plugin import GraphQL

logger = logging.getLogger("bastion.graphql")

PROTOCOL = "graphql-transport-ws"


class _Closed(Exception):
    """The connection was closed for a protocol breach; stop serving it."""


def websocket_handler(graphql: GraphQL, context_type: Any) -> Callable[..., Any]:
    """The WebSocket route's handler, its context compiled like the HTTP routes'."""

    async def graphql_ws(websocket: WebSocket, context: Context) -> None:
        await Connection(graphql, websocket, context).serve()

    graphql_ws.__annotations__ = {"websocket": WebSocket, "context": context_type, "return": None}
    return graphql_ws


class Connection:
    """One graphql-transport-ws connection and its running operations."""

    def __init__(self, graphql: GraphQL, websocket: WebSocket, context: Context) -> None:
        self.graphql = graphql
        self.websocket = websocket
        self.context = context
        context.graphql = graphql
        self.acknowledged = False
        self.init_received = False
        self.operations: dict[str, asyncio.Task[None]] = {}

    async def serve(self) -> None:
        if PROTOCOL not in self.websocket.subprotocols:
            await self.websocket.close(4406, f"Subprotocol not acceptable: offer {PROTOCOL}")
            return
        await self.websocket.accept(subprotocol=PROTOCOL)
        timer = asyncio.create_task(self._init_timeout())
        try:
            while True:
                text = await self.websocket.receive_text()
                await self._handle(text)
        except _Closed:
            pass
        finally:
            timer.cancel()
            for task in list(self.operations.values()):
                task.cancel()
            await asyncio.gather(timer, *self.operations.values(), return_exceptions=True)

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.graphql.connection_init_timeout)
        if not self.init_received and not self.websocket.closed:
            await self.websocket.close(4408, "Connection initialisation timeout")

    async def _close(self, code: int, reason: str) -> NoReturn:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason[:120])
        raise _Closed

    async def _send(self, message: dict[str, Any]) -> None:
        if not self.websocket.closed:
            await self.websocket.send_text(msgspec.json.encode(message).decode())

    async def _handle(self, text: str) -> None:
        try:
            message = msgspec.json.decode(text)
        except (msgspec.DecodeError, RecursionError):
            await self._close(4400, "Invalid message: not JSON")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._close(4400, "Invalid message: expected an object with a type")
        kind = message["type"]
        if kind == "connection_init":
            if self.init_received:
                await self._close(4429, "Too many initialisation requests")
            payload = message.get("payload")
            if payload is not None and not isinstance(payload, dict):
                await self._close(4400, "Invalid message: the init payload must be an object")
            self.init_received = True
            self.context.connection_params = payload or {}
            self._authorize(payload or {})
            self.acknowledged = True
            await self._send({"type": "connection_ack"})
        elif kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            await self._close(4400, f"Invalid message: unknown type {kind[:40]!r}")

    def _authorize(self, payload: dict[str, Any]) -> None:
        """Browsers cannot set headers on a WebSocket, so graphql-ws clients send the token
        in ``connection_init``: its ``Authorization`` becomes the header the app's
        authentication reads, unless the handshake carried one. The request is replaced, not
        changed, so nothing cached from the handshake's headers goes stale; both share one
        teardown stack, closed when the socket ends."""
        token = payload.get("Authorization", payload.get("authorization"))
        old = self.context.request
        if not isinstance(token, str) or not token.isascii() or "authorization" in old.headers:
            return
        headers = [*old.scope["headers"], (b"authorization", token.encode())]
        request = Request({**old.scope, "headers": headers}, old.receive, old.path_params)
        if old.cleanup is None:
            old.cleanup = contextlib.AsyncExitStack()
        request.cleanup = old.cleanup
        self.context.request = request

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            await self._close(4401, "Unauthorized")
        op_id, payload = message.get("id"), message.get("payload")
        if not isinstance(op_id, str) or not op_id or len(op_id) > 100:
            await self._close(4400, "Invalid message: subscribe needs a string id")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            await self._close(4400, "Invalid message: subscribe needs payload.query")
        variables = payload.get("variables")
        name = payload.get("operationName")
        if not isinstance(variables, dict | None) or not isinstance(name, str | None):
            await self._close(4400, "Invalid message: bad variables or operationName")
        if op_id in self.operations:
            await self._close(4409, f"Subscriber for {op_id} already exists")
        if len(self.operations) >= self.graphql.max_subscriptions:
            error = {"message": "Too many operations on this connection"}
            await self._send({"id": op_id, "type": "error", "payload": [error]})
            return
        self.operations[op_id] = asyncio.create_task(
            self._run(op_id, payload["query"], variables, name)
        )

    async def _run(
        self, op_id: str, query: str, variables: dict[str, Any] | None, name: str | None
    ) -> None:
        from strawberry.types.execution import ExecutionResult, PreExecutionError

        debug = self.graphql.debug
        try:
            source = await self.graphql.schema.stream(
                query, variable_values=variables, context_value=self.context, operation_name=name
            )
            async with contextlib.aclosing(source):
                first = True
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        errors = [format_error(e, debug) for e in result.errors or ()]
                        await self._send({"id": op_id, "type": "error", "payload": errors})
                        return
                    if not isinstance(result, ExecutionResult):
                        error = {"message": "@defer and @stream are not served over WebSocket"}
                        await self._send({"id": op_id, "type": "error", "payload": [error]})
                        return
                    first = False
                    doc = response_document(result, debug, executed=True)
                    await self._send({"id": op_id, "type": "next", "payload": doc})
            await self._send({"id": op_id, "type": "complete"})
        except asyncio.CancelledError:
            raise
        except GraphQLError as exc:
            # Strawberry's stream() lets a parse error raised inside ParserCache escape
            # instead of yielding it as a PreExecutionError: the same refusal all the same.
            with contextlib.suppress(Exception):
                payload = [format_error(exc, debug)]
                await self._send({"id": op_id, "type": "error", "payload": payload})
        except Exception:
            logger.exception("GraphQL operation %r failed", op_id)
            error = {"message": "Internal server error"}
            with contextlib.suppress(Exception):
                await self._send({"id": op_id, "type": "error", "payload": [error]})
        finally:
            if self.operations.get(op_id) is asyncio.current_task():
                del self.operations[op_id]
