"""OpenTelemetry spans: one per request (continuing the caller's W3C ``traceparent``) and one
per database query. Needs ``pip install 'bastion[otel]'``; where spans go (OTLP, console…)
is the tracer provider's business, configured by you as for any OpenTelemetry program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bastion.http.request import Request

_HINT = (
    "tracing=True needs OpenTelemetry: `pip install 'bastion[otel]'` (opentelemetry-api and "
    "opentelemetry-sdk), or turn tracing off"
)


def _header_getter() -> Any:
    """A propagator getter reading W3C trace context straight from the raw ASGI headers."""
    from opentelemetry.propagators.textmap import Getter

    class HeaderGetter(Getter[list[tuple[bytes, bytes]]]):
        def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
            wanted = key.encode("latin-1")
            found = [v.decode("latin-1") for k, v in carrier if k == wanted]
            return found or None

        def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
            return [k.decode("latin-1") for k, _ in carrier]

    return HeaderGetter()


class Tracing:
    """Starts and ends spans; ``provider`` defaults to the global tracer provider."""

    def __init__(self, provider: Any = None) -> None:
        try:
            from opentelemetry import context, propagate, trace
        except ImportError:
            raise ConfigurationError(_HINT) from None
        self._trace = trace
        self._context = context
        self._propagate = propagate
        self._getter = _header_getter()
        self.tracer = trace.get_tracer("bastion", tracer_provider=provider)

    def start(self, request: Request) -> tuple[Any, Any]:
        """A server span for the request, made current; returns it and the context token."""
        scope = request.scope
        parent = self._propagate.extract(scope["headers"], getter=self._getter)
        span = self.tracer.start_span(
            scope["method"],
            context=parent,
            kind=self._trace.SpanKind.SERVER,
            attributes={
                "http.request.method": scope["method"],
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            },
        )
        token = self._context.attach(self._trace.set_span_in_context(span, parent))
        return span, token

    def end(
        self,
        span: Any,
        token: Any,
        method: str,
        route: str,
        status: int,
        error: BaseException | None,
    ) -> None:
        # Not ``span.name``: a span the sampler dropped (a ``traceparent`` flagged "not
        # sampled", or no SDK installed) is a NonRecordingSpan, which has no name.
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if error is not None:
            span.record_exception(error)
        if status >= 500 or error is not None:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        span.end()
        self._context.detach(token)

    def instrument(self, engine: AsyncEngine) -> None:
        """A client span around every statement the engine executes."""
        from sqlalchemy import event

        sync_engine = engine.sync_engine
        system = sync_engine.dialect.name
        tracer, trace = self.tracer, self._trace

        def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            operation = statement.lstrip().split(None, 1)[0].upper() if statement else "SQL"
            span = tracer.start_span(
                f"{operation} {system}",
                kind=trace.SpanKind.CLIENT,
                attributes={"db.system": system, "db.statement": statement[:2000]},
            )
            conn.info.setdefault("bastion.spans", []).append(span)

        def after(conn: Any, *_: Any) -> None:
            spans: list[Any] = conn.info.get("bastion.spans") or []
            if spans:
                spans.pop().end()

        def failed(context: Any) -> None:
            spans: list[Any] = context.connection.info.get("bastion.spans") or []
            if spans:
                span = spans.pop()
                span.record_exception(context.original_exception)
                span.set_status(trace.Status(trace.StatusCode.ERROR))
                span.end()

        event.listen(sync_engine, "before_cursor_execute", before)
        event.listen(sync_engine, "after_cursor_execute", after)
        event.listen(sync_engine, "handle_error", failed)
