"""The per-request work: one app-level middleware (timing, access log, metrics, the span)
and one thin wrapper per route (names the route, counts it in flight), made at start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bastion.http.request import ClientDisconnect, Request
from bastion.http.response import Response
from bastion.observability.logs import current_request, log_request
from bastion.observability.metrics import UNMATCHED, Metrics
from bastion.observability.tracing import Tracing
from bastion.routing._endpoint import ASGIPassthrough, CompiledRoute
from bastion.routing.route import WebSocketRoute
from bastion.types import CallNext, Endpoint, Message, Receive, Scope, Send

#: The status logged and counted for a client that left before its answer (as nginx does).
CLIENT_GONE = 499


class Instrumentation:
    """Everything measured about requests; each part is optional."""

    def __init__(
        self, metrics: Callable[[], Metrics | None], tracing: Tracing | None, access_log: bool
    ):
        self._make_metrics = metrics
        self.metrics: Metrics | None = None  # made at the first build, in the serving process
        self.tracing = tracing
        self.access_log = access_log
        #: Routes logged at DEBUG only: probes and scrapes would drown the access log.
        self.quiet: set[Any] = set()  # their handlers (routes are copied at start-up)

    def wrap(self, compiled: CompiledRoute) -> Endpoint:
        """Serve ``compiled``'s endpoint behind one that sets ``request.route`` and counts
        the request in flight, with the gauge children looked up here, once."""
        if self.metrics is None:
            self.metrics = self._make_metrics()
        route, endpoint, metrics = compiled.route, compiled.endpoint, self.metrics
        if metrics is None:

            async def named(request: Request) -> Response:
                request.route = route
                return await endpoint(request)

            return named
        if isinstance(route, WebSocketRoute):
            connections = metrics.websockets.labels(route.path)

            async def websocket(request: Request) -> Response:
                request.route = route
                connections.inc()
                try:
                    return await endpoint(request)
                finally:
                    connections.dec()

            return websocket
        gauge_of = metrics.in_progress.labels
        gauges = {m: gauge_of(m, route.path) for m in route.methods}

        async def counted(request: Request) -> Response:
            request.route = route
            method = request.scope["method"]
            gauge = gauges.get(method)
            if gauge is None:  # HEAD, served by the GET endpoint
                gauge = gauges[method] = gauge_of(metrics.method_label(method), route.path)
            gauge.inc()
            try:
                return await endpoint(request)
            finally:
                gauge.dec()

        return counted

    async def observe(self, request: Request, call_next: CallNext) -> Response:
        """The outermost middleware: everything below it is timed, logged and counted."""
        started = time.perf_counter()
        context = current_request.set(request)
        span = self.tracing.start(request) if self.tracing is not None else None
        try:
            response = await call_next(request)
        except BaseException as exc:
            status = CLIENT_GONE if isinstance(exc, ClientDisconnect) else 500
            self._done(request, _label(request, None), status, started, span, exc)
            raise
        finally:
            current_request.reset(context)
        label = _label(request, response)
        if isinstance(response, ASGIPassthrough):  # a mount or ASGI middleware: answers later
            return ASGIPassthrough(self._watch(response, request, label, started, span))
        self._done(request, label, response.status_code, started, span, request.error)
        return response

    def _done(
        self,
        request: Request,
        label: str,
        status: int,
        started: float,
        span: tuple[Any, Any] | None,
        error: BaseException | None,
    ) -> None:
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe(request.scope["method"], label, status, seconds)
        if self.access_log:
            quiet = request.route is not None and request.route.handler in self.quiet
            log_request(request, label, status, seconds, logging.DEBUG if quiet else logging.INFO)
        if span is not None and self.tracing is not None:
            self.tracing.end(span[0], span[1], request.scope["method"], label, status, error)

    def _watch(
        self,
        inner: ASGIPassthrough,
        request: Request,
        label: str,
        started: float,
        span: tuple[Any, Any] | None,
    ) -> Any:
        """An ASGI app that runs ``inner`` and records the status it actually sent."""

        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            status = 500

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            token = current_request.set(request)
            try:
                await inner(scope, receive, send_and_note)
            finally:
                current_request.reset(token)
                self._done(request, label, status, started, span, request.error)

        return watched


def _label(request: Request, response: Response | None) -> str:
    """The route template; a mount's prefix with ``{path:path}``; else ``unmatched``."""
    route = request.route
    if route is not None:
        return str(route.path)
    if isinstance(response, ASGIPassthrough) and response.child_scope is not None:
        outer = request.scope.get("root_path", "")
        prefix = str(response.child_scope.get("root_path", ""))[len(outer) :]
        return prefix + "/{path:path}"
    return UNMATCHED
