"""Message handlers in one process on the memory backend: typed payloads and replies, the
errors a sender gets instead of a crash, retries, the same DI as HTTP handlers (Depends with
teardown, app scope, the database session), the bus in HTTP handlers, start-up refusals,
settings, stopping with messages in flight, and the command line."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import msgspec
import pytest
from click.testing import CliRunner
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion import App, Depends
from bastion.db import Model, SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError, NotFound
from bastion.services.messaging import (
    MemoryBackend,
    Message,
    MessageBus,
    MessagingError,
    MessagingPlugin,
    NoResponders,
    RequestFailed,
)
from bastion.testing import TestClient


class Ask(msgspec.Struct):
    sku: str
    qty: int = 1


class Quote(msgspec.Struct):
    sku: str
    price: float


class Order(msgspec.Struct):
    id: int


def quoting_bus() -> MessageBus:
    bus = MessageBus()

    @bus.message("prices.quote", timeout=0.5)
    async def quote(ask: Ask) -> Quote:
        if ask.sku == "missing":
            raise NotFound(f"No product {ask.sku}")
        if ask.sku == "boom":
            raise RuntimeError("the database password is hunter2")
        if ask.sku == "slow":
            await asyncio.sleep(10)
        return Quote(ask.sku, 2.5 * ask.qty)

    return bus


@pytest.fixture
async def quoting() -> AsyncIterator[MessageBus]:
    bus = quoting_bus()
    app = App(plugins=[MessagingPlugin(bus, max_size=1000)])
    async with app.lifespan():
        yield bus


async def test_a_request_gets_the_typed_reply(quoting: MessageBus) -> None:
    assert await quoting.request("prices.quote", Ask("A1", 2), reply_type=Quote) == Quote("A1", 5)
    assert await quoting.request("prices.quote", {"sku": "B2"}) == {"sku": "B2", "price": 2.5}


async def test_an_invalid_payload_is_a_422_naming_the_field_and_the_consumer_goes_on(
    quoting: MessageBus, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(RequestFailed) as failed:
        await quoting.request("prices.quote", {"sku": "A1", "qty": "two"})
    assert failed.value.status == 422
    assert failed.value.errors[0]["field"] == "payload.qty"
    assert failed.value.errors[0]["reason"] == "must be an integer"
    assert "refused a message on prices.quote" in caplog.text
    assert (await quoting.request("prices.quote", Ask("A1"), reply_type=Quote)).price == 2.5


async def test_bytes_that_are_not_json_are_a_400(quoting: MessageBus) -> None:
    assert quoting.backend is not None
    reply = await quoting.backend.request("prices.quote", b"{not json", {}, timeout=5)
    assert reply.headers["Nats-Service-Error-Code"] == "400"
    assert msgspec.json.decode(reply.data)["status"] == 400


async def test_an_oversized_payload_is_a_413(quoting: MessageBus) -> None:
    with pytest.raises(RequestFailed) as failed:
        await quoting.request("prices.quote", Ask("x" * 2000))
    assert failed.value.status == 413


async def test_handler_errors_are_statuses_never_tracebacks(
    quoting: MessageBus, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(RequestFailed) as missing:
        await quoting.request("prices.quote", Ask("missing"))
    assert (missing.value.status, missing.value.detail) == (404, "No product missing")
    with caplog.at_level(logging.ERROR), pytest.raises(RequestFailed) as boom:
        await quoting.request("prices.quote", Ask("boom"))
    assert (boom.value.status, boom.value.detail) == (500, "The handler failed")
    assert "hunter2" not in str(boom.value) and "hunter2" in caplog.text  # logged, not sent
    with pytest.raises(RequestFailed) as slow:
        await quoting.request("prices.quote", Ask("slow"))
    assert slow.value.status == 504


async def test_a_request_nobody_answers_fails_at_once(quoting: MessageBus) -> None:
    with pytest.raises(NoResponders):
        await quoting.request("prices.unknown", {})


async def test_publishing_bad_subjects_or_timeouts_is_refused(quoting: MessageBus) -> None:
    with pytest.raises(ValueError, match="subject 'orders.>'"):
        await quoting.publish("orders.>", {})
    with pytest.raises(ValueError, match="timeout=0"):
        await quoting.request("prices.quote", {}, timeout=0)


async def test_a_failing_event_is_retried_then_dropped_after_max_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = MessageBus()
    attempts: dict[int, list[int]] = {}

    @bus.message("orders.created")
    async def on_order(order: Order, msg: Message) -> None:
        attempts.setdefault(order.id, []).append(msg.attempt)
        if order.id == 1 and msg.attempt < 3:
            raise ConnectionError("the mail server is away")
        if order.id == 2:
            raise ConnectionError("always")

    backend = MemoryBackend()
    app = App(plugins=[MessagingPlugin(bus, backend, retry_delay=0.01, max_attempts=4)])
    async with app.lifespan():
        await bus.publish("orders.created", Order(1))
        await bus.publish("orders.created", Order(2))
        await bus.publish("orders.created", {"id": "three"})  # never valid: not retried
        await backend.join()
    assert attempts == {1: [1, 2, 3], 2: [1, 2, 3, 4]}
    assert "dropped the event" in caplog.text


async def test_events_published_before_the_consumer_starts_are_handled() -> None:
    bus = MessageBus()
    seen: list[int] = []

    @bus.message("orders.created")
    async def on_order(order: Order) -> None:
        seen.append(order.id)

    backend = MemoryBackend()
    publisher = App(plugins=[MessagingPlugin(bus, backend, consume=False)])
    async with publisher.lifespan():
        await bus.publish("orders.created", Order(1))
    consumer = App(plugins=[MessagingPlugin(bus, backend)])
    async with consumer.lifespan():
        await backend.join()
    assert seen == [1]


class Note(Model):
    __tablename__ = "message_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


async def test_handlers_get_the_same_dependencies_as_http_handlers(tmp_path: Path) -> None:
    bus = MessageBus()
    events: list[str] = []

    async def audit() -> AsyncIterator[str]:
        events.append("open")
        yield "audit"
        events.append("closed")

    def config() -> dict[str, str]:
        events.append("config")  # app scope: made once
        return {"greeting": "hello"}

    @bus.message("notes.add")
    async def add(
        text: str,
        db: AsyncSession,
        log: Annotated[str, Depends(audit)],
        settings: Annotated[dict[str, str], Depends(config, scope="app")],
    ) -> int:
        note = Note(text=f"{settings['greeting']} {text} ({log})")
        db.add(note)
        await db.flush()
        return note.id

    database = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path}/notes.db")
    app = App(plugins=[database, MessagingPlugin(bus)])
    async with app.lifespan():
        async with database.engine.begin() as connection:
            await connection.run_sync(Model.metadata.create_all)
        assert await bus.request("notes.add", "one") == 1
        assert await bus.request("notes.add", "two") == 2
        async with database.sessions() as session:  # committed by the handler's session
            texts = list(await session.scalars(select(Note.text).order_by(Note.id)))
    assert texts == ["hello one (audit)", "hello two (audit)"]
    assert events.count("config") == 1  # app scope: once, kept
    assert [e for e in events if e != "config"] == ["open", "closed", "open", "closed"]


def test_http_handlers_get_the_bus_injected() -> None:
    bus = MessageBus()
    seen: list[int] = []

    @bus.message("orders.created")
    async def on_order(order: Order) -> None:
        seen.append(order.id)

    app = App(plugins=[MessagingPlugin(bus)])

    @app.post("/orders")
    async def create(order: Order, messages: MessageBus) -> dict[str, int]:
        await messages.publish("orders.created", order)
        return {"id": order.id}

    with TestClient(app) as client:
        assert client.post("/orders", json={"id": 9}).json() == {"id": 9}
    assert seen == [9]  # handled before the app stopped


async def test_stopping_hands_back_what_runs_past_the_grace() -> None:
    bus = MessageBus()
    runs: list[int] = []
    release = asyncio.Event()

    @bus.message("orders.slow")
    async def slow(order: Order, msg: Message) -> None:
        runs.append(msg.attempt)
        if msg.attempt == 1:
            await release.wait()  # never set: cancelled at stop

    backend = MemoryBackend()
    first = App(plugins=[MessagingPlugin(bus, backend, grace=0.05)])
    async with first.lifespan():
        await bus.publish("orders.slow", Order(1))
        while not runs:
            await asyncio.sleep(0.01)
    second = App(plugins=[MessagingPlugin(bus, backend)])
    async with second.lifespan():
        await backend.join()
    assert runs == [1, 2]


def test_messaging_without_a_bus_or_with_a_bad_backend_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="MessageBus"):
        MessagingPlugin("bus")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown"):
        App(plugins=[MessagingPlugin(MessageBus(), "kafka://broker")])
    with pytest.raises(ConfigurationError, match="concurrency=0"):
        MessagingPlugin(MessageBus(), concurrency=0)
    with pytest.raises(ConfigurationError, match="group='a b'"):
        MessagingPlugin(MessageBus(), group="a b")
    with pytest.raises(ConfigurationError, match="unknown option"):
        MessagingPlugin(MessageBus(), workers=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="after it"):
        App(plugins=[MessagingPlugin(MessageBus()), SQLAlchemyPlugin("sqlite+aiosqlite://")])


def test_handlers_that_cannot_work_are_refused_when_declared_or_compiled() -> None:
    bus = MessageBus()
    with pytest.raises(ConfigurationError, match="annotate the return type"):

        @bus.message("a.b")
        async def untyped(order: Order):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(ConfigurationError, match="no wildcards"):
        bus.message("orders.*")

    @bus.message("orders.created")
    async def first(order: Order) -> None:
        pass

    with pytest.raises(ConfigurationError, match="one handler per subject"):

        @bus.message("orders.created")
        async def second(order: Order) -> None:
            pass

    @bus.message("orders.two")
    async def two_payloads(order: Order, other: Order) -> None:
        pass

    with pytest.raises(ConfigurationError, match="both payloads"):
        bus.handlers["orders.two"].compile(None)


async def test_publishing_on_a_bus_no_app_connected_says_what_to_do() -> None:
    with pytest.raises(MessagingError, match="add MessagingPlugin"):
        await MessageBus().publish("orders.created", {})


def test_settings_choose_the_backend_group_and_whether_the_app_consumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BASTION_MESSAGES_BACKEND", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("BASTION_MESSAGES_CONSUME", "yes")
    monkeypatch.setenv("BASTION_MESSAGES_GROUP", "billing")
    plugin = MessagingPlugin(MessageBus())
    App(plugins=[plugin])
    assert type(plugin.backend).__name__ == "RedisStreamsBackend"
    assert plugin.consume is True and plugin.make_consumer().options["group"] == "billing"
    monkeypatch.setenv("BASTION_MESSAGES_CONSUME", "perhaps")
    with pytest.raises(ConfigurationError, match="BASTION_MESSAGES_CONSUME"):
        App(plugins=[MessagingPlugin(MessageBus())])
    monkeypatch.delenv("BASTION_MESSAGES_BACKEND")
    monkeypatch.delenv("BASTION_MESSAGES_CONSUME")
    memory = MessagingPlugin(MessageBus())
    App(plugins=[memory])
    assert isinstance(memory.backend, MemoryBackend) and memory.consume is True


def test_the_command_line_publishes_and_reports_request_errors() -> None:
    bus = quoting_bus()
    app = App(plugins=[MessagingPlugin(bus)])
    commands = {c.name: c for c in app.cli_commands}
    assert {"messages", "worker"} <= set(commands)
    runner = CliRunner()
    published = runner.invoke(commands["messages"], ["publish", "orders.created", '{"id": 1}'])
    assert published.exit_code == 0, published.output
    bad = runner.invoke(commands["messages"], ["publish", "orders.created", "{nope"])
    assert bad.exit_code == 2 and "PAYLOAD is not JSON" in bad.output
    # The memory backend has nobody else to answer: the command runs no handler itself.
    asked = runner.invoke(commands["messages"], ["request", "prices.quote", '{"sku": "A"}'])
    assert asked.exit_code == 1 and "no handler answers" in asked.output


async def test_a_provider_for_a_generic_class_serves_its_parameterized_annotation() -> None:
    """A handler may write ``model: ServedModel[list[float], str]``, as mypy --strict wants."""
    from typing import Generic, TypeVar

    T = TypeVar("T")

    class Box(Generic[T]):
        def __init__(self, value: T) -> None:
            self.value = value

    bus = MessageBus()

    @bus.message("boxes.open")
    async def open_box(name: str, box: Box[int]) -> str:
        return f"{name}: {box.value}"

    app = App(plugins=[MessagingPlugin(bus)])
    app.provide(Box, lambda: Box(7), scope="app")
    async with app.lifespan():
        assert await bus.request("boxes.open", "a", timeout=10) == "a: 7"


def test_a_start_up_that_fails_stops_the_command_with_its_sentence() -> None:
    """A plugin that cannot start (a gRPC port in use) is one line, not a traceback."""

    @asynccontextmanager
    async def port_in_use(app: App) -> AsyncIterator[None]:
        raise ConfigurationError("gRPC cannot listen on 127.0.0.1:50051")
        yield

    app = App(plugins=[MessagingPlugin(quoting_bus())])
    app.lifespan_contexts.append(port_in_use)
    commands = {c.name: c for c in app.cli_commands}
    for command, args in (("messages", ["publish", "orders.created", "{}"]), ("worker", [])):
        result = CliRunner().invoke(commands[command], args)
        assert result.exit_code == 1
        assert (
            result.output == "Error: The app cannot start: gRPC cannot listen on 127.0.0.1:50051\n"
        )


def test_jobs_worker_is_the_worker_when_the_app_has_jobs() -> None:
    from bastion.jobs import Jobs, JobsPlugin

    app = App(plugins=[MessagingPlugin(MessageBus()), JobsPlugin(Jobs())])
    workers = [c for c in app.cli_commands if c.name == "worker"]
    assert len(workers) == 1 and any(p.name == "no_messages" for p in workers[0].params)


async def test_readiness_fails_while_the_broker_is_away(redis_url: str) -> None:
    from bastion import Settings
    from bastion.observability import ObservabilityPlugin
    from bastion.testing import AsyncTestClient

    for url, status in [(redis_url, 200), ("redis://127.0.0.1:1/0", 503)]:
        app = App(
            settings=Settings(profile="dev"),
            plugins=[MessagingPlugin(MessageBus(), url), ObservabilityPlugin(logs=None)],
        )
        async with AsyncTestClient(app) as client:
            response = await client.get("/health/ready")
        assert response.status_code == status, response.text
        check = response.json()["checks"]["messages"]
        assert check["status"] == ("UP" if status == 200 else "DOWN")


def test_the_battery_needs_no_broker_library_until_a_broker_is_chosen() -> None:
    import subprocess
    import sys

    code = (
        "import sys, bastion.services.messaging as m; "
        "from bastion import App; "
        "App(plugins=[m.MessagingPlugin(m.MessageBus())]); "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('nats', 'redis')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


async def test_metrics_count_messages_by_subject_and_outcome() -> None:
    from bastion import Settings
    from bastion.observability import ObservabilityPlugin
    from bastion.testing import AsyncTestClient

    bus = quoting_bus()

    @bus.message("orders.created")
    async def on_order(order: Order) -> None:
        pass

    backend = MemoryBackend()
    app = App(
        settings=Settings(profile="dev"),
        plugins=[MessagingPlugin(bus, backend), ObservabilityPlugin(logs=None)],
    )
    async with AsyncTestClient(app) as client:
        await bus.publish("orders.created", Order(1))
        await bus.publish("orders.created", {"id": "x"})
        await bus.request("prices.quote", Ask("A1"))
        with pytest.raises(RequestFailed):
            await bus.request("prices.quote", Ask("boom"))
        await backend.join()
        body = (await client.get("/metrics")).text
    assert 'bastion_messages_published_total{subject="orders.created"} 2.0' in body
    for kind, subject, outcome in [
        ("event", "orders.created", "ok"),
        ("event", "orders.created", "refused"),
        ("request", "prices.quote", "ok"),
        ("request", "prices.quote", "failed"),
    ]:
        labels = f'kind="{kind}",outcome="{outcome}",subject="{subject}"'
        assert f"bastion_messages_handled_total{{{labels}}} 1.0" in body, labels
    assert (
        'bastion_messages_handle_seconds_count{kind="request",subject="prices.quote"} 2.0' in body
    )


async def test_an_event_published_in_a_transaction_waits_for_its_commit(tmp_path: Path) -> None:
    from contextlib import asynccontextmanager

    from bastion.exceptions import Conflict
    from bastion.testing import AsyncTestClient

    bus = MessageBus()
    seen: list[str] = []

    @bus.message("notes.added")
    async def on_note(text: str) -> None:
        seen.append(text)

    database = SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path}/outbox.db")
    app = App(plugins=[database, MessagingPlugin(bus)])

    @app.post("/notes")
    async def add(note: dict[str, str], db: AsyncSession) -> dict[str, int]:
        row = Note(text=note["text"])
        db.add(row)
        await db.flush()
        await bus.publish("notes.added", note["text"])
        assert note["text"] not in seen  # not yet: the transaction is open
        if note["text"] == "refused":
            raise Conflict("refused")  # rolled back: the event is never sent
        return {"id": row.id}

    @asynccontextmanager
    async def tables(app: App) -> AsyncIterator[None]:
        async with database.engine.begin() as connection:
            await connection.run_sync(Model.metadata.create_all)
        yield

    app.lifespan_contexts.append(tables)
    async with AsyncTestClient(app) as client:
        assert (await client.post("/notes", json={"text": "kept"})).status_code == 201
        assert (await client.post("/notes", json={"text": "refused"})).status_code == 409
        assert isinstance(bus.backend, MemoryBackend)
        await bus.backend.join()
    assert seen == ["kept"]


async def test_a_handlers_span_continues_the_trace_of_the_request_that_sent_the_message() -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is missing")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    from bastion import Settings
    from bastion.observability import ObservabilityPlugin
    from bastion.testing import AsyncTestClient

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = quoting_bus()
    backend = MemoryBackend()
    app = App(
        settings=Settings(profile="dev"),
        plugins=[
            ObservabilityPlugin(logs=None, tracing=True, tracer_provider=provider),
            MessagingPlugin(bus, backend),
        ],
    )

    @app.post("/quote")
    async def ask(body: Ask) -> dict[str, float]:
        try:
            return {"price": (await bus.request("prices.quote", body, reply_type=Quote)).price}
        except RequestFailed as exc:
            return {"status": exc.status}

    async with AsyncTestClient(app) as client:
        assert (await client.post("/quote", json={"sku": "A1"})).json() == {"price": 2.5}
        assert (await client.post("/quote", json={"sku": "boom"})).json() == {"status": 500}
        await backend.join()
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST")]
    handled = [s for s in spans if s.name == "request prices.quote"]
    assert len(servers) == len(handled) == 2
    for server, run in zip(servers, handled, strict=True):
        assert run.context.trace_id == server.context.trace_id
        assert run.parent is not None and run.parent.span_id == server.context.span_id
        assert run.attributes is not None
        assert run.attributes["messaging.destination.name"] == "prices.quote"
    assert handled[0].status.status_code != StatusCode.ERROR
    assert handled[1].status.status_code == StatusCode.ERROR
