"""Subscriptions over WebSocket with the graphql-transport-ws protocol (graphql-ws's).

One connection: the client offers the ``graphql-transport-ws`` subprotocol, sends
``connection_init`` within the timeout (else 4408), gets ``connection_ack``, then runs
operations with ``subscribe``; each answers ``next`` messages and a ``complete`` (or one
``error`` when the document is refused). ``complete`` from the client stops one. Protocol
breaches close the socket with the spec's codes: 4400 bad message, 4401 subscribe before the
ack, 4409 a duplicate id, 4429 a second ``connection_init``.

What belongs to the connection is settled once, at ``connection_init``: who is asking (the
handshake's headers and cookies, or the payload's ``Authorization``) and the endpoint's
``dependencies=`` guards (a refusal closes with 4403). What belongs to an operation is built
per ``subscribe``: the context, through the same dependency as HTTP's, in a small request of
its own whose ``yield`` dependencies are closed when the operation ends. So a database
session lives as long as one query, mutation or subscription, not as long as the socket;
it is committed as a route's is (before the result is sent), and a subscription commits and
gives its pooled connection (and its place in the pool's queue) back after each event and
before waiting for the first, so an idle subscriber holds none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec
from graphql import GraphQLError

from bastion.di.container import teardown
from bastion.exceptions import HTTPError
from bastion.graphql._result import format_error, response_document
from bastion.http.request import Request
from bastion.websockets.websocket import WebSocket

if TYPE_CHECKING:
    from bastion.graphql.plugin import GraphQL

logger = logging.getLogger("bastion.graphql")

PROTOCOL = "graphql-transport-ws"


class _Closed(Exception):
    """The connection was closed for a protocol breach; stop serving it."""


def websocket_handler(graphql: GraphQL) -> Callable[..., Any]:
    """The WebSocket route's handler: the handshake request, nothing resolved from it yet."""

    async def graphql_ws(websocket: WebSocket, request: Request) -> None:
        await Connection(graphql, websocket, request).serve()

    return graphql_ws


async def _no_receive() -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": 1000}


class Connection:
    """One graphql-transport-ws connection and its running operations."""

    def __init__(self, graphql: GraphQL, websocket: WebSocket, request: Request) -> None:
        self.graphql = graphql
        self.websocket = websocket
        #: The handshake request (with the ``connection_init`` token once authorised): each
        #: operation's request is made from its scope.
        self.request = request
        self.connection_params: dict[str, Any] | None = None
        #: The connection's ``Authentication`` under its dependency key, once computed.
        self.known: dict[Any, Any] = {}
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
            self.connection_params = payload or {}
            self._authorize(payload or {})
            await self._admit()
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
        changed, so nothing cached from the handshake's headers goes stale."""
        token = payload.get("Authorization", payload.get("authorization"))
        old = self.request
        if not isinstance(token, str) or not token.isascii() or "authorization" in old.headers:
            return
        headers = [*old.scope["headers"], (b"authorization", token.encode())]
        self.request = Request({**old.scope, "headers": headers}, old.receive, old.path_params)

    async def _admit(self) -> None:
        """Once per connection: the endpoint's guards (a refusal closes with 4403), then who
        is asking, kept for every operation. Both run in a request of their own, closed at
        once, so a ``load_user`` that reads the database holds no connection afterwards.
        Credentials that do not authenticate (an expired token) are not kept: each operation
        then meets the same 401 in the fields that need a user, as over HTTP."""
        guards, authentication = self.graphql.connection_steps()
        if not guards and authentication is None:
            return
        request = self._request()
        error: BaseException | None = None
        try:
            try:
                for step in guards:
                    await step(request)
            except HTTPError as exc:
                await self._close(4403, f"Forbidden: {exc.detail}")
            if authentication is not None:
                with contextlib.suppress(HTTPError):
                    self.known = {authentication.key: await authentication(request)}
            for hook in request.before_send or ():
                await hook()
        except BaseException as exc:
            error = exc
            raise
        finally:
            await teardown(request, error)

    def _request(self) -> Request:
        """A request of one operation's own, from the connection's scope: the context's
        dependencies are resolved and closed in it."""
        base = self.request
        request = Request(base.scope, _no_receive, base.path_params)
        if self.known:
            request.di_cache = dict(self.known)
        return request

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
        request = self._request()
        failure: BaseException | None = None
        try:
            try:
                context = await self.graphql.operation_context(request)
            except HTTPError as exc:  # a dependency of the context refused (a guard...)
                error = {"message": exc.detail, "extensions": {"status": exc.status_code}}
                await self._send({"id": op_id, "type": "error", "payload": [error]})
                return
            context.connection_params = self.connection_params
            if _is_subscription(self.graphql, query, name):
                await _done(request)  # nothing held while waiting for the first event
            source = await self.graphql.schema.stream(
                query, variable_values=variables, context_value=context, operation_name=name
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
                    await _done(request)  # committed before it is sent, as a route's
                    await self._send({"id": op_id, "type": "next", "payload": doc})
            await _done(request)
            await self._send({"id": op_id, "type": "complete"})
        except asyncio.CancelledError as exc:
            failure = exc  # stopped by the client or the socket's end: what is not committed
            raise  # is rolled back
        except GraphQLError as exc:
            # Strawberry's stream() lets a parse error raised inside ParserCache escape
            # instead of yielding it as a PreExecutionError: the same refusal all the same.
            failure = exc
            with contextlib.suppress(Exception):
                payload = [format_error(exc, debug)]
                await self._send({"id": op_id, "type": "error", "payload": payload})
        except Exception as exc:
            failure = exc
            logger.exception("GraphQL operation %r failed", op_id)
            error = {"message": "Internal server error"}
            with contextlib.suppress(Exception):
                await self._send({"id": op_id, "type": "error", "payload": [error]})
        finally:
            try:
                await teardown(request, failure)
            finally:
                if self.operations.get(op_id) is asyncio.current_task():
                    del self.operations[op_id]


async def _done(request: Request) -> None:
    """Finish the unit of work so far, as a route does after its handler: the session
    commits (or, with nothing to commit, runs its ``on_commit`` callbacks) and gives its
    connection and its place in the pool's queue back; it takes them again when used."""
    for hook in request.before_send or ():
        await hook()


def _is_subscription(graphql: GraphQL, query: str, name: str | None) -> bool:
    """Whether the operation is a subscription, from the documents already planned, else
    parsed here under the token limit (a document that does not parse is refused by
    Strawberry's own path right after)."""
    from graphql import OperationType, get_operation_ast, parse

    known = graphql.plans.find(query, name) if graphql.plans is not None else None
    if known is not None:
        return known[1].value == "subscription"
    limits = graphql.limits
    try:
        document = parse(query, no_location=True, max_tokens=limits.max_tokens if limits else None)
    except (GraphQLError, RecursionError):
        return False
    operation = get_operation_ast(document, name)
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION
