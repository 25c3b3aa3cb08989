"""Prometheus metrics and OpenTelemetry spans of messages, from the app's
``ObservabilityPlugin``.

Messages handled by subject, kind and outcome (``ok``; ``refused``: a bad payload or a
handler's 4xx; ``failed``: an error, retried or answered; ``dropped``: given up on;
``expired``: a request nobody waited for any more), the time handlers took, and the events
published. Label children are made once per label set.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Metric families per registry: a registry refuses a second family of the same name, and an
#: app restarted in one process (tests) keeps its registry.
_MADE: dict[int, tuple[Any, MessageMetrics]] = {}


class MessageMetrics:
    def __init__(self, registry: Any, namespace: str = "bastion") -> None:
        kw: dict[str, Any] = {"namespace": namespace, "registry": registry}
        self.handled = Counter(
            "messages_handled",
            "Messages handled, by subject, kind (event, request) and outcome.",
            ("subject", "kind", "outcome"),
            **kw,
        )
        self.seconds = Histogram(
            "messages_handle_seconds",
            "Time one handler run took.",
            ("subject", "kind"),
            buckets=BUCKETS,
            **kw,
        )
        self.published = Counter("messages_published", "Events published.", ("subject",), **kw)
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def handled_one(self, subject: str, kind: str, outcome: str, seconds: float | None) -> None:
        self._child(self.handled, subject, kind, outcome).inc()
        if seconds is not None:
            self._child(self.seconds, subject, kind).observe(seconds)

    def published_one(self, subject: str) -> None:
        self._child(self.published, subject).inc()


def metrics_for(app: Any) -> MessageMetrics | None:
    """The app's message metrics when it has ``ObservabilityPlugin`` with metrics on."""
    import sys

    module = sys.modules.get("bastion.observability.plugin")
    if module is None:
        return None
    plugin = next((p for p in app.plugins if isinstance(p, module.ObservabilityPlugin)), None)
    metrics = plugin.metrics if plugin is not None else None
    if metrics is None:
        return None
    registry = metrics.registry
    key = id(registry) if registry is not None else 0
    existing = _MADE.get(key)
    if existing is not None and existing[0] is registry:
        return existing[1]
    made = MessageMetrics(registry)
    _MADE[key] = (registry, made)
    return made


def tracer_for(app: Any) -> Any:
    """The OpenTelemetry tracer of the app's ``ObservabilityPlugin`` when it traces."""
    import sys

    module = sys.modules.get("bastion.observability.plugin")
    if module is None:
        return None
    plugin = next((p for p in app.plugins if isinstance(p, module.ObservabilityPlugin)), None)
    tracing = plugin.tracing if plugin is not None else None
    return tracing.tracer if tracing is not None else None


def inject(headers: dict[str, str]) -> None:
    """Put the current trace context in ``headers`` (W3C ``traceparent``), so the handler's
    span continues the trace of the code that sent the message."""
    from opentelemetry import propagate

    propagate.inject(headers)


class Span:
    """A consumer span around one message, child of the sender's trace context."""

    def __init__(self, tracer: Any, subject: str, kind: str, headers: Any, attempt: int, id: str):
        from opentelemetry import context, propagate, trace

        parent = propagate.extract(dict(headers))
        self.span = tracer.start_span(
            f"{kind} {subject}",
            context=parent,
            kind=trace.SpanKind.SERVER if kind == "request" else trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "bastion",
                "messaging.destination.name": subject,
                "messaging.message.id": id,
                "messaging.operation.type": "process",
                "message.attempt": attempt,
            },
        )
        self.token = context.attach(trace.set_span_in_context(self.span, parent))

    def end(self, outcome: str) -> None:
        from opentelemetry import context, trace

        self.span.set_attribute("message.outcome", outcome)
        if outcome in ("failed", "dropped"):
            self.span.set_status(trace.Status(trace.StatusCode.ERROR))
        self.span.end()
        context.detach(self.token)
