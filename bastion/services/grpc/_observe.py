"""What ``ObservabilityPlugin`` records for HTTP, recorded for RPCs: an access line, metrics
in the same registry (so ``/metrics`` shows both) and a server span continuing the caller's
``traceparent``. Made once, when the gRPC server starts; without the plugin, nothing is.

Metric families (labels ``service``, ``method``, ``code``; ``type`` is unary,
client_stream, server_stream or bidi_stream, as go-grpc-prometheus names them):

* ``bastion_grpc_server_handled_total``: RPCs finished, by code;
* ``bastion_grpc_server_handling_seconds``: their duration;
* ``bastion_grpc_server_in_progress``: RPCs being handled.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from bastion.http.request import Request

if TYPE_CHECKING:
    from bastion.observability.plugin import ObservabilityPlugin

access_logger = logging.getLogger("bastion.access")
_families: WeakKeyDictionary[Any, tuple[Any, Any, Any]] = WeakKeyDictionary()


def _metric_families(metrics: Any, buckets: tuple[float, ...]) -> tuple[Any, Any, Any]:
    """The gRPC families of one ``Metrics`` (one registry): made once, even when the app
    starts again in the same process (a registry refuses a name twice)."""
    found = _families.get(metrics)
    if found is None:
        from prometheus_client import Counter, Gauge, Histogram

        kw: dict[str, Any] = {"namespace": "bastion", "registry": metrics.registry}
        labels = ("type", "service", "method", "code")
        found = (
            Counter("grpc_server_handled", "RPCs finished, by status code.", labels, **kw),
            Histogram(
                "grpc_server_handling_seconds",
                "Time from receiving an RPC to its status.",
                labels,
                buckets=buckets,
                **kw,
            ),
            Gauge(
                "grpc_server_in_progress",
                "RPCs being handled.",
                ("type", "service", "method"),
                multiprocess_mode="livesum",
                **kw,
            ),
        )
        _families[metrics] = found
    return found


class Span:
    """One RPC being observed: its start, its span and the in-progress gauge child."""

    __slots__ = ("context_token", "gauge", "otel", "request_token", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.otel: tuple[Any, Any] | None = None
        self.gauge: Any = None
        self.request_token: Any = None
        self.context_token: Any = None


class Observer:
    """Observes the RPCs of one method (``/inventory.v1.Inventory/GetItem``)."""

    def __init__(self, plugin: ObservabilityPlugin | None, kind: str, service: str, name: str):
        self.plugin = plugin
        self.kind = kind
        self.service = service
        self.name = name
        self.method = f"/{service}/{name}"
        self.on = plugin is not None
        self._children: dict[str, tuple[Any, Any]] = {}
        self._gauge: Any = None
        self._handled: Any = None
        self._seconds: Any = None
        self.tracer: Any = None
        if plugin is None:
            return
        metrics = plugin.metrics
        if metrics is not None:
            self._handled, self._seconds, gauges = _metric_families(metrics, plugin.buckets)
            self._gauge = gauges.labels(kind, service, name)
        if plugin.tracing is not None:
            self.tracer = plugin.tracing.tracer

    def start(self, request: Request, metadata: dict[str, str]) -> Span:
        span = Span()
        if not self.on:
            return span
        from bastion.observability.logs import current_request

        span.request_token = current_request.set(request)
        if self._gauge is not None:
            self._gauge.inc()
        if self.tracer is not None:
            from opentelemetry import context, propagate, trace

            parent = propagate.extract(metadata)
            otel = self.tracer.start_span(
                f"{self.service}/{self.name}",
                context=parent,
                kind=trace.SpanKind.SERVER,
                attributes={
                    "rpc.system": "grpc",
                    "rpc.service": self.service,
                    "rpc.method": self.name,
                },
            )
            span.context_token = context.attach(trace.set_span_in_context(otel, parent))
            span.otel = (otel, trace)
        return span

    def done(self, span: Span, request: Request, code: Any, error: BaseException | None) -> None:
        if not self.on:
            return
        seconds = time.perf_counter() - span.started
        name = code.name
        try:
            if self._handled is not None:
                children = self._children.get(name)
                if children is None:
                    values = (self.kind, self.service, self.name, name)
                    children = (self._handled.labels(*values), self._seconds.labels(*values))
                    self._children[name] = children
                children[0].inc()
                children[1].observe(seconds)
                self._gauge.dec()
            if self.plugin is not None and self.plugin.access_log:
                _log(request, self.method, name, seconds)
        finally:  # the span ends and the context is restored whatever happened above
            self._end(span, code, error)

    @staticmethod
    def _end(span: Span, code: Any, error: BaseException | None) -> None:
        if span.otel is not None:
            from opentelemetry import context

            otel, trace = span.otel
            otel.set_attribute("rpc.grpc.status_code", code.value[0])
            if error is not None:
                otel.record_exception(error)
            if code.name in _SERVER_FAULTS:
                otel.set_status(trace.Status(trace.StatusCode.ERROR))
            otel.end()
            context.detach(span.context_token)
        if span.request_token is not None:
            from bastion.observability.logs import current_request

            # A response stream closed by gRPC may end in another context than it began.
            with contextlib.suppress(ValueError):
                current_request.reset(span.request_token)


#: Codes that mean the server failed (OpenTelemetry's rule for gRPC server spans).
_SERVER_FAULTS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)


def _log(request: Request, method: str, code: str, seconds: float) -> None:
    """The access line: ``GRPC /inventory.v1.Inventory/GetItem OK 1.20 ms``."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    from bastion.middleware.errors import request_id_of

    duration_ms = round(seconds * 1000, 2)
    client = request.scope.get("client")
    access_logger.info(
        "GRPC %s %s %.2f ms",
        method,
        code,
        duration_ms,
        extra={
            "method": "GRPC",
            "path": method,
            "route": method,
            "status": code,
            "duration_ms": duration_ms,
            "client": client[0] if client else None,
            "request_id": request_id_of(request),
        },
    )
