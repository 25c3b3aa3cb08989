"""gRPC beside HTTP, called by a client generated from protos/inventory.proto: dependencies
(a database session, the caller), validation, errors as statuses, auth by metadata token,
deadlines and cancellation reaching the handler, health, reflection and observability."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bastion.services.grpc import GRPC, field_errors
from bastion.testing import AsyncTestClient
from tests.services import grpc_app
from tests.services.grpc_app import Inventory, make_app, pb2, pb2_grpc, probe, tokens

WRITER = tokens.encode({"sub": "ada", "scope": "items:read items:write"})
READER = tokens.encode({"sub": "grace", "scope": "items:read"})
#: Generous: the machine is shared; the assertions are about behaviour, not speed.
WAIT = 10.0


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(autouse=True)
def fresh_probe() -> None:
    probe.__init__()  # type: ignore[misc]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, Any, AsyncTestClient]]:
    """The app started by its HTTP test client (so gRPC listens on a free port too), a
    channel to the gRPC server, and the HTTP client."""
    app = make_app(f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}")
    async with AsyncTestClient(app) as http:
        plugin = next(p for p in app.plugins if isinstance(p, GRPC))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{plugin.port}") as channel:
            yield app, channel, http


async def test_unary_rpcs_get_the_session_and_the_caller_and_share_the_database(served):
    app, channel, http = served
    stub = pb2_grpc.InventoryStub(channel)
    created = await stub.CreateItem(
        pb2.CreateItemRequest(name="bolt", quantity=3, tags=["steel"]),
        metadata=bearer(WRITER),
        timeout=WAIT,
    )
    assert (created.name, created.quantity, list(created.tags)) == ("bolt", 3, ["steel"])
    got = await stub.GetItem(pb2.GetItemRequest(id=created.id), metadata=bearer(READER))
    assert (got.id, got.name, got.quantity) == (created.id, "bolt", 3)
    # Committed by the RPC's session: the HTTP side of the same app reads it.
    response = await http.get(f"/items/{created.id}")
    assert response.json() == {"id": created.id, "name": "bolt", "quantity": 3}


async def test_rpcs_share_a_postgresql_database_with_http(fresh_postgres_url):
    app = make_app(fresh_postgres_url)
    async with AsyncTestClient(app) as http:
        plugin = next(p for p in app.plugins if isinstance(p, GRPC))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{plugin.port}") as channel:
            stub = pb2_grpc.InventoryStub(channel)
            created = await asyncio.gather(
                *(
                    stub.CreateItem(
                        pb2.CreateItemRequest(name=f"part {n}", quantity=n),
                        metadata=bearer(WRITER),
                        timeout=WAIT,
                    )
                    for n in range(8)
                )
            )
            assert sorted(item.quantity for item in created) == list(range(8))
            for item in created:
                got = await stub.GetItem(pb2.GetItemRequest(id=item.id), metadata=bearer(READER))
                assert got.name == item.name
                assert (await http.get(f"/items/{item.id}")).json()["name"] == item.name


async def test_client_streaming_rpc_reads_every_message(served):
    _, channel, _ = served
    stub = pb2_grpc.InventoryStub(channel)

    async def messages() -> AsyncIterator[Any]:
        for number in range(5):
            yield pb2.CreateItemRequest(name=f"nut {number}", quantity=number)

    summary = await stub.ImportItems(messages(), metadata=bearer(WRITER), timeout=WAIT)
    assert summary.count == 5


async def test_bidirectional_streams_answer_as_they_read(served):
    _, channel, _ = served
    stub = pb2_grpc.InventoryStub(channel)
    call = stub.Tally(timeout=WAIT)
    for number in range(1, 4):
        await call.write(pb2.CreateItemRequest(name=f"item {number}"))
        assert (await call.read()).count == number
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK
    assert probe.torn_down == ["tracked"]


async def test_plain_methods_run_in_a_thread_and_missing_ones_are_unimplemented():
    import threading

    from bastion import App, Settings

    class Plain(pb2_grpc.InventoryServicer):  # type: ignore[misc]
        def WhoAmI(self, request: Any, context: Any) -> Any:
            return pb2.Caller(subject=threading.current_thread().name)

    app = App(settings=Settings(profile="test"), plugins=[GRPC(Plain(), port=0)])
    async with app.lifespan():
        port = app.plugins[0].port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb2_grpc.InventoryStub(channel)
            caller = await stub.WhoAmI(pb2.Empty(), timeout=WAIT)
            assert caller.subject != threading.current_thread().name
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetItem(pb2.GetItemRequest(id=1), timeout=WAIT)
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert caught.value.details() == (
                "inventory.v1.Inventory/GetItem is not implemented by this server"
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.WatchItems(pb2.WatchRequest(), timeout=WAIT).read()
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


T = TypeVar("T")


class Box(Generic[T]):
    """A generic class an app provides (as ``ServedModel`` is)."""

    def __init__(self, value: T) -> None:
        self.value = value


async def test_a_provider_for_a_generic_class_serves_its_parameterized_annotation():
    """``model: ServedModel[list[float], str]`` (what mypy --strict wants) is injected as the
    bare class is, in a servicer method as in a route."""
    from bastion import App, Settings

    class Typed(pb2_grpc.InventoryServicer):  # type: ignore[misc]
        async def WhoAmI(self, request: Any, context: Any, box: Box[str]) -> Any:
            return pb2.Caller(subject=box.value)

    app = App(settings=Settings(profile="test"), plugins=[GRPC(Typed(), port=0)])
    app.provide(Box, lambda: Box("boxed"), scope="app")
    async with app.lifespan():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.plugins[0].port}") as channel:
            caller = await pb2_grpc.InventoryStub(channel).WhoAmI(pb2.Empty(), timeout=WAIT)
            assert caller.subject == "boxed"


async def test_a_bad_field_is_invalid_argument_naming_the_field(served):
    _, channel, _ = served
    stub = pb2_grpc.InventoryStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateItem(
            pb2.CreateItemRequest(name="", quantity=1), metadata=bearer(WRITER), timeout=WAIT
        )
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("name: ")
    assert [e["field"] for e in field_errors(error)] == ["name"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateItem(
            pb2.CreateItemRequest(name="x", quantity=1, tags=["ok", "t" * 21]),
            metadata=bearer(WRITER),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [e["field"] for e in field_errors(caught.value)] == ["tags[1]"]


async def test_auth_by_metadata_token_through_the_apps_backends(served):
    _, channel, _ = served
    stub = pb2_grpc.InventoryStub(channel)
    caller = await stub.WhoAmI(pb2.Empty(), metadata=bearer(WRITER), timeout=WAIT)
    assert (caller.subject, list(caller.scopes)) == ("ada", ["items:read", "items:write"])

    for metadata in ((), bearer("not-a-jwt"), (("authorization", "Bearer "),)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.WhoAmI(pb2.Empty(), metadata=metadata, timeout=WAIT)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        trailers = dict(caught.value.trailing_metadata())
        assert trailers["www-authenticate"].startswith("Bearer")  # the HTTP challenge

    # Authenticated, but the token lacks the scope CreateItem requires.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateItem(pb2.CreateItemRequest(name="bolt"), metadata=bearer(READER))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "items:write" in caught.value.details()


async def test_an_api_key_in_metadata_authenticates_through_its_backend(served):
    app, channel, _ = served
    keys = app.state.api_keys
    database = app.plugins[0]
    async with database.sessions() as db:
        new = await keys.create(db, owner="bob", scopes=["items:read"])
        await db.commit()
    stub = pb2_grpc.InventoryStub(channel)
    caller = await stub.WhoAmI(pb2.Empty(), metadata=(("x-api-key", new.key),), timeout=WAIT)
    assert (caller.subject, list(caller.scopes)) == ("bob", ["items:read"])
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # reading, but not writing
        await stub.CreateItem(
            pb2.CreateItemRequest(name="x"), metadata=(("x-api-key", new.key),), timeout=WAIT
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with database.sessions() as db:
        await keys.revoke(db, new.record.id)
        await db.commit()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.WhoAmI(pb2.Empty(), metadata=(("x-api-key", new.key),), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "The API key has been revoked"


async def test_errors_are_statuses_and_never_a_traceback(served, caplog):
    _, channel, _ = served
    stub = pb2_grpc.InventoryStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetItem(pb2.GetItemRequest(id=404), metadata=bearer(READER), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "No item 404"

    with caplog.at_level(logging.ERROR, "bastion.error"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetItem(
                pb2.GetItemRequest(id=500),
                metadata=(*bearer(READER), ("x-request-id", "req-500")),
                timeout=WAIT,
            )
    error = caught.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "Internal server error (request id req-500)"
    assert "hunter2" not in error.debug_error_string()
    assert dict(error.trailing_metadata())["x-request-id"] == "req-500"
    logged = [r for r in caplog.records if r.name == "bastion.error"]
    assert logged and logged[0].exc_info is not None  # the traceback stays in the log


async def test_deadline_exceeded_cancels_the_handler_and_tears_down(served):
    _, channel, _ = served
    stub = pb2_grpc.InventoryStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Wait(pb2.WaitRequest(seconds=600), timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server-side handler was cancelled, not left sleeping, and its dependency torn down.
    await asyncio.wait_for(probe.event("Wait").wait(), WAIT)
    for _ in range(100):
        if "tracked" in probe.torn_down:
            break
        await asyncio.sleep(0.05)
    assert probe.torn_down == ["tracked"]


async def test_a_client_cancelling_a_stream_cancels_the_server_generator(served):
    _, channel, _ = served
    stub = pb2_grpc.InventoryStub(channel)
    call = stub.WatchItems(pb2.WatchRequest(interval_seconds=0.02), timeout=60)
    received = []
    async for item in call:
        received.append(item.name)
        if len(received) == 3:
            break
    assert received == ["tick 1", "tick 2", "tick 3"]
    assert call.cancel()
    await asyncio.wait_for(probe.event("WatchItems").wait(), WAIT)
    assert await call.code() == grpc.StatusCode.CANCELLED


async def test_an_unknown_method_and_an_oversized_message_are_refused(served):
    _, channel, _ = served
    missing = channel.unary_unary("/inventory.v1.Inventory/Explode")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await missing(b"", timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    stub = pb2_grpc.InventoryStub(channel)
    # settings.max_body_size (1 MiB) bounds messages too.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateItem(
            pb2.CreateItemRequest(name="x" * (2 * 1024 * 1024)),
            metadata=bearer(WRITER),
            timeout=WAIT,
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    garbage = channel.unary_unary("/inventory.v1.Inventory/GetItem")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await garbage(b"\xff\xff\xff\xff", metadata=bearer(READER), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("The request is not a valid message: ")
    # Metadata beyond gRPC's header limit is refused before any handler runs.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.WhoAmI(pb2.Empty(), metadata=(("x-junk", "j" * 64 * 1024),), timeout=WAIT)
    assert caught.value.code() in (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
    )
    # A request id a client could inject lines or headers with is replaced.
    caller_call = stub.WhoAmI(
        pb2.Empty(),
        metadata=(*bearer(READER), ("x-request-id", "evil id; " + "x" * 200)),
        timeout=WAIT,
    )
    await caller_call
    request_id = dict(await caller_call.trailing_metadata())["x-request-id"]
    assert len(request_id) == 32 and request_id.isalnum()
    garbage_stream = channel.stream_unary("/inventory.v1.Inventory/ImportItems")

    async def chunks() -> AsyncIterator[bytes]:
        yield pb2.CreateItemRequest(name="fine").SerializeToString()
        yield b"\xff\xff\xff\xff"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await garbage_stream(chunks(), metadata=bearer(WRITER), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_health_follows_readiness_and_draining(served):
    app, channel, http = served
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    for service in ("", "inventory.v1.Inventory"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=WAIT)
        assert answer.status == serving
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="nope.v1.Nope"), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
    assert (await watch.read()).status == serving
    probe.ready = False  # a readiness check fails, as /health/ready would show
    assert (await asyncio.wait_for(watch.read(), WAIT)).status == not_serving
    probe.ready = True
    assert (await asyncio.wait_for(watch.read(), WAIT)).status == serving
    app.draining = True  # shutdown has begun
    assert (await asyncio.wait_for(watch.read(), WAIT)).status == not_serving
    answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=WAIT)
    assert answer.status == not_serving
    assert (await http.get("/health/ready")).status_code == 503  # HTTP agrees


async def test_reflection_describes_the_services(served):
    _, channel, _ = served
    plugin = next(p for p in served[0].plugins if isinstance(p, GRPC))
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    def ask() -> tuple[list[str], list[str]]:
        with grpc.insecure_channel(f"127.0.0.1:{plugin.port}") as sync_channel:
            database = ProtoReflectionDescriptorDatabase(sync_channel)
            services = sorted(database.get_services())
            from google.protobuf.descriptor_pool import DescriptorPool

            pool = DescriptorPool(database)
            service = pool.FindServiceByName("inventory.v1.Inventory")
            return services, [m.name for m in service.methods]

    services, methods = await asyncio.to_thread(ask)
    assert services == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "inventory.v1.Inventory",
    ]
    assert methods == [
        "GetItem", "CreateItem", "WatchItems", "ImportItems", "Tally", "Wait", "WhoAmI"
    ]  # fmt: skip


async def test_rpcs_are_logged_and_counted_beside_http(served, caplog):
    app, channel, http = served
    stub = pb2_grpc.InventoryStub(channel)
    with caplog.at_level(logging.INFO, "bastion.access"):
        await stub.WhoAmI(
            pb2.Empty(), metadata=(*bearer(READER), ("x-request-id", "abc-123")), timeout=WAIT
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.WhoAmI(pb2.Empty(), timeout=WAIT)
    lines = [r for r in caplog.records if r.name == "bastion.access"]
    assert lines[0].getMessage().startswith("GRPC /inventory.v1.Inventory/WhoAmI OK ")
    assert lines[0].request_id == "abc-123"  # type: ignore[attr-defined]
    assert lines[1].status == "UNAUTHENTICATED"  # type: ignore[attr-defined]
    text = (await http.get("/metrics")).text
    assert (
        'bastion_grpc_server_handled_total{code="OK",method="WhoAmI",'
        'service="inventory.v1.Inventory",type="unary"} 1.0'
    ) in text
    assert 'code="UNAUTHENTICATED",method="WhoAmI"' in text
    assert "bastion_grpc_server_handling_seconds_bucket" in text


async def test_an_rpc_span_continues_the_callers_trace(tmp_path):
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = make_app(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", tracing=True, tracer_provider=provider
    )
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with app.lifespan():
        plugin = next(p for p in app.plugins if isinstance(p, GRPC))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{plugin.port}") as channel:
            stub = pb2_grpc.InventoryStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetItem(
                    pb2.GetItemRequest(id=7),
                    metadata=(
                        *bearer(READER),
                        ("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),
                    ),
                    timeout=WAIT,
                )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value
    spans = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert [s.name for s in spans] == ["inventory.v1.Inventory/GetItem"]
    span = spans[0]
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.attributes["rpc.system"] == "grpc"
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    # The database query ran inside the RPC's span.
    assert any(
        s.parent is not None and s.parent.span_id == span.context.span_id
        for s in exporter.get_finished_spans()
        if s.kind == SpanKind.CLIENT
    )


def test_misconfigurations_fail_at_start_up_with_the_fix(tmp_path):
    from bastion import App, Settings
    from bastion.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="does not subclass a servicer base class"):
        GRPC(object())
    with pytest.raises(ConfigurationError, match="at least one servicer"):
        GRPC()
    with pytest.raises(ConfigurationError, match="two servicers serve inventory.v1.Inventory"):
        GRPC(Inventory(), Inventory())

    class Wrong(pb2_grpc.InventoryServicer):  # type: ignore[misc]
        async def WhoAmI(self, request: Any, context: Any, limit: int) -> Any:
            return pb2.Caller()

    app = App(settings=Settings(profile="test"), plugins=[GRPC(Wrong(), port=0)])

    async def start() -> None:
        async with app.lifespan():
            pass

    with pytest.raises(ConfigurationError, match="parameter `limit` is neither gRPC's"):
        asyncio.run(start())


async def test_a_busy_port_stops_the_start_up(served, tmp_path):
    plugin = next(p for p in served[0].plugins if isinstance(p, GRPC))
    from bastion.exceptions import ConfigurationError

    other = make_app(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}", port=plugin.port)
    with pytest.raises(ConfigurationError, match=f"gRPC cannot listen on 127.0.0.1:{plugin.port}"):
        async with other.lifespan():
            pass


async def test_a_command_process_starts_no_grpc_server(served, tmp_path):
    """`bastion worker` runs the app's start-up for its jobs: on the server's machine the
    port is taken, and the worker must neither fail nor serve gRPC."""
    from bastion.cli.loading import running

    plugin = next(p for p in served[0].plugins if isinstance(p, GRPC))
    worker_app = make_app(f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}", port=plugin.port)
    async with running(worker_app):
        mine = next(p for p in worker_app.plugins if isinstance(p, GRPC))
        assert mine.server is None and mine.port is None
    assert worker_app.serving is False


def test_the_app_module_serves_with_the_default_port():
    assert grpc_app.GRPC is GRPC
