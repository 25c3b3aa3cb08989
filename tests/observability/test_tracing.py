import sys

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.db import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError
from bastion.observability import ObservabilityPlugin
from bastion.testing import TestClient
from tests.observability.conftest import make_app

sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is not installed")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def exporter():
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_a_request_span_continues_the_callers_w3c_trace(exporter, provider, tmp_path):
    database = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}")
    app = make_app(database, tracing=True, tracer_provider=provider)

    @app.get("/orders/{order_id}")
    async def order(order_id: int, db: AsyncSession) -> int:
        return (await db.execute(text("SELECT :n"), {"n": order_id})).scalar_one()

    with TestClient(app) as client:
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
        assert client.get("/orders/5", headers=headers).json() == 5
    spans = exporter.get_finished_spans()
    server = next(s for s in spans if s.kind == SpanKind.SERVER)
    assert server.name == "GET /orders/{order_id}"
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == PARENT
    assert server.attributes["http.route"] == "/orders/{order_id}"
    assert server.attributes["http.response.status_code"] == 200
    queries = [s for s in spans if s.kind == SpanKind.CLIENT and "SELECT" in s.name]
    assert queries, [s.name for s in spans]
    assert queries[-1].parent.span_id == server.context.span_id
    assert queries[-1].attributes["db.system"] == "sqlite"
    assert "5" not in queries[-1].attributes["db.statement"]  # parameters never recorded


def test_a_failing_request_marks_its_span_as_an_error(exporter, provider):
    app = make_app(tracing=True, tracer_provider=provider)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
    server = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert server.status.status_code == StatusCode.ERROR
    assert server.events[0].name == "exception"


def test_tracing_without_opentelemetry_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'bastion\[otel\]'"):
        ObservabilityPlugin(tracing=True)


def test_tracing_queries_needs_the_database_plugin_first(provider, tmp_path):
    database = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    from bastion import App, Settings

    plugins = [ObservabilityPlugin(tracing=True, tracer_provider=provider, logs=None), database]
    with pytest.raises(ConfigurationError, match=r"App\(plugins=\[SQLAlchemyPlugin\(...\), Obs"):
        App(settings=Settings(profile="test"), plugins=plugins)


@pytest.mark.parametrize("flags", ["00", "01"])
def test_a_span_the_sampler_drops_is_no_500(exporter, flags):
    """With the SDK's default parent-based sampler, a caller's ``traceparent`` flagged "not
    sampled" makes a NonRecordingSpan, which has no ``name``: every such request was a 500.
    So was every request with tracing on and no SDK provider (the API's no-op spans)."""
    from opentelemetry import trace

    for provider in (sdk.TracerProvider(), trace.NoOpTracerProvider()):
        provider_app = make_app(tracing=True, tracer_provider=provider)
        provider_app.get("/ping")(lambda: "pong")
        with TestClient(provider_app) as client:
            headers = {"traceparent": f"00-{TRACE_ID}-{PARENT}-{flags}"}
            assert client.get("/ping", headers=headers).text == "pong"
            assert client.get("/ping").text == "pong"
