"""A servicer's methods served as gRPC handlers that inject dependencies, validate, observe
and turn errors into statuses (their signatures are compiled by ``_compile.py``).

Dependencies are resolved as for a route (``Depends``, ``AsyncSession``, ``CurrentUser``,
app scope, ``Request``). The metadata is the request's headers, so the app's authentication
backends read ``authorization: Bearer ...`` or an API key header as they do over HTTP.

Per RPC: a request-shaped ``Request`` over the metadata, the message converted to the
method's ``msgspec.Struct`` when it asks for one (a bad field is INVALID_ARGUMENT naming it),
the dependencies, the method, what a request does after its handler (the session's commit),
then ``yield`` teardown, also when the client cancels or its deadline passes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import grpc  # type: ignore[import-untyped]

from bastion.di.container import teardown
from bastion.exceptions import BadRequest
from bastion.http.request import Request
from bastion.services.grpc._compile import as_async, compile_method
from bastion.services.grpc._observe import Observer
from bastion.services.grpc._status import status_of

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.observability.plugin import ObservabilityPlugin

KINDS = {
    (False, False): "unary",
    (True, False): "client_stream",
    (False, True): "server_stream",
    (True, True): "bidi_stream",
}
_SAFE_ID = re.compile(r"[A-Za-z0-9._~:+/=@-]{1,128}")
_OK = grpc.StatusCode.OK


class Method:
    """One RPC method of one servicer, ready to serve."""

    def __init__(
        self,
        app: App[Any],
        service: str,
        name: str,
        fn: Callable[..., Any],
        handler: Any,
        observability: ObservabilityPlugin | None,
    ) -> None:
        self.app = app
        self.method = f"/{service}/{name}"
        self.handler = handler
        self.kind = KINDS[(handler.request_streaming, handler.response_streaming)]
        self.observer = Observer(observability, self.kind, service, name)
        self.debug = app.debug
        where = f"gRPC method {type(getattr(fn, '__self__', None)).__name__}.{name}"
        self.fn, self.streams = as_async(fn, where)
        self.plan, self.convert = compile_method(app, fn, where, handler.request_streaming)

    def rpc_handler(self) -> Any:
        """The ``grpc.RpcMethodHandler`` serving this method, same (de)serializers."""
        make = {
            "unary": grpc.unary_unary_rpc_method_handler,
            "client_stream": grpc.stream_unary_rpc_method_handler,
            "server_stream": grpc.unary_stream_rpc_method_handler,
            "bidi_stream": grpc.stream_stream_rpc_method_handler,
        }[self.kind]
        behaviour = self.stream if self.streams else self.call
        return make(
            behaviour,
            request_deserializer=_tolerant(self.handler.request_deserializer),
            response_serializer=self.handler.response_serializer,
        )

    # -- per RPC ---------------------------------------------------------------------------
    async def call(self, message: Any, context: Any) -> Any:
        """Unary response (unary and client-streaming RPCs, and coroutines that write to a
        response stream with ``context.write``)."""
        request, metadata = self._request(context)
        span = self.observer.start(request, metadata)
        error: BaseException | None = None
        code, finished = _OK, False
        try:
            message = self._checked(message)
            kwargs = await self._arguments(request)
            if self.convert is not None:
                message = self.convert(message)
            result = await self.fn(message, context, **kwargs)
            for hook in request.before_send or ():  # e.g. the database session's commit
                await hook()
            context.set_trailing_metadata((("x-request-id", _request_id(request)),))
            return result
        except BaseException as exc:
            error = exc
            code, abort = self._outcome(exc, context, request)
            if abort is not None:
                # Cleaned up before the status goes out: once the client has its answer,
                # gRPC may cancel this task, which must not cut a rollback short.
                finished = True
                await self._finish(request, context, span, code, error)
                await context.abort(code, *abort)  # raises the AbortError gRPC expects
            raise
        finally:
            if not finished:
                await self._finish(request, context, span, code, error)

    async def stream(self, message: Any, context: Any) -> AsyncIterator[Any]:
        """Streaming response from an async generator: cancelling the RPC (the client
        cancels, its deadline passes) raises ``CancelledError`` where the generator waits."""
        request, metadata = self._request(context)
        span = self.observer.start(request, metadata)
        error: BaseException | None = None
        code, finished = _OK, False
        try:
            message = self._checked(message)
            kwargs = await self._arguments(request)
            if self.convert is not None:
                message = self.convert(message)
            async for item in self.fn(message, context, **kwargs):
                yield item
            for hook in request.before_send or ():
                await hook()
            context.set_trailing_metadata((("x-request-id", _request_id(request)),))
        except BaseException as exc:
            error = exc
            code, abort = self._outcome(exc, context, request)
            if abort is not None:
                # Cleaned up before the status goes out: once the client has its answer,
                # gRPC may cancel this task, which must not cut a rollback short.
                finished = True
                await self._finish(request, context, span, code, error)
                await context.abort(code, *abort)  # raises the AbortError gRPC expects
            raise
        finally:
            if not finished:
                await self._finish(request, context, span, code, error)

    def _checked(self, message: Any) -> Any:
        """The message, or a 400 (INVALID_ARGUMENT) if its bytes did not decode; a request
        stream is checked message by message as the method reads it."""
        if self.handler.request_streaming:
            return _checked_stream(message)
        if isinstance(message, Undecodable):
            raise message.error()
        return message

    async def _arguments(self, request: Request) -> dict[str, Any]:
        if self.plan is None:
            return {}
        request.cleanup = AsyncExitStack()
        return await self.plan.kwargs(request)

    def _request(self, context: Any) -> tuple[Request, dict[str, str]]:
        """A request-shaped view of the call: metadata as headers, the peer as client."""
        headers: list[tuple[bytes, bytes]] = []
        text: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if isinstance(value, str):
                text[key] = value
                headers.append((key.encode("latin-1"), value.encode("utf-8")))
            else:  # a -bin key: the raw bytes
                headers.append((key.encode("latin-1"), value))
        scope = {
            "type": "grpc",
            "app": self.app,
            "method": "POST",  # what gRPC is on the wire; a guard looking at it sees a write
            "path": self.method,
            "headers": headers,
            "query_string": b"",
            "path_params": {},
            "client": _peer(context.peer()),
            "scheme": "http",
        }
        request = Request(scope, _no_receive)
        incoming = text.get("x-request-id")
        safe = incoming is not None and _SAFE_ID.fullmatch(incoming)
        request.state.request_id = incoming if safe else uuid4().hex  # type: ignore[attr-defined]
        return request, text

    def _outcome(
        self, exc: BaseException, context: Any, request: Request
    ) -> tuple[Any, tuple[str, tuple[tuple[str, str | bytes], ...]] | None]:
        """The status ``exc`` ends the RPC with, and for a plain exception the details and
        trailing metadata to abort with (the method's own ``context.abort`` has sent them)."""
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            remaining = context.time_remaining()
            expired = remaining is not None and remaining <= 0
            code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
            return code, None
        if isinstance(exc, grpc.aio.AbortError):
            return context.code() or grpc.StatusCode.UNKNOWN, None
        if not isinstance(exc, Exception):
            return grpc.StatusCode.UNKNOWN, None
        request_id = _request_id(request)
        code, details, trailers = status_of(
            exc, method=self.method, request_id=request_id, debug=self.debug
        )
        return code, (details, (*trailers, ("x-request-id", request_id)))

    async def _finish(
        self, request: Request, context: Any, span: Any, code: Any, error: BaseException | None
    ) -> None:
        if error is None:
            code = context.code() or _OK  # set_code(...) without raising
        try:
            if request.cleanup is not None:
                await teardown(request, error)
        finally:  # counted, logged and the span ended even if the teardown is cancelled
            self.observer.done(span, request, code, error)


class Undecodable:
    """What a request's bytes became when they are not the message they should be."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def error(self) -> BadRequest:
        return BadRequest(f"The request is not a valid message: {self.reason}")


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The generated deserializer, returning ``Undecodable`` where it would raise (gRPC
    would answer UNKNOWN naming the exception's class, and log a traceback)."""
    if deserializer is None:
        return None
    decode = deserializer

    def tolerant(data: bytes) -> Any:
        try:
            return decode(data)
        except Exception as exc:
            return Undecodable(str(exc)[:200])

    return tolerant


async def _checked_stream(messages: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for message in messages:
        if isinstance(message, Undecodable):
            raise message.error()
        yield message


def _request_id(request: Request) -> str:
    return str(request.state.request_id)


def _peer(peer: str | None) -> tuple[str, int] | None:
    """``ipv4:127.0.0.1:5000`` or ``ipv6:[::1]:5000`` as ``(host, port)``."""
    if not peer:
        return None
    _, _, address = peer.partition(":")
    host, _, port = address.rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() else (address, 0)


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}
