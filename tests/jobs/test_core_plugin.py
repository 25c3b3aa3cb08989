"""JobsPlugin in an app: configuration, transactional enqueue, metrics, readiness, cron."""

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import bastion.db
from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError, Conflict
from bastion.jobs import Jobs, JobsPlugin, MemoryBackend
from bastion.jobs.testing import JobsTester
from bastion.observability import ObservabilityPlugin
from bastion.testing import AsyncTestClient

# -- choosing the backend -------------------------------------------------------------------


def test_backend_defaults_to_memory_without_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASTION_JOBS_BACKEND", raising=False)
    plugin = JobsPlugin(Jobs())
    App(plugins=[plugin])
    assert isinstance(plugin.backend, MemoryBackend)


def test_backend_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_JOBS_BACKEND", "redis://127.0.0.1:1/0")
    plugin = JobsPlugin(Jobs())
    App(plugins=[plugin])
    assert type(plugin.backend).__name__ == "RedisJobsBackend"


def test_backend_comes_from_bastion_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bastion import Settings

    monkeypatch.delenv("BASTION_JOBS_BACKEND", raising=False)
    (tmp_path / "bastion.toml").write_text('jobs_backend = "redis://127.0.0.1:1/0"\n')
    settings = Settings.load(root=tmp_path, env_file=None)
    plugin = JobsPlugin(Jobs())
    App(settings=settings, plugins=[plugin])
    assert type(plugin.backend).__name__ == "RedisJobsBackend"


def test_an_unknown_backend_says_what_to_write() -> None:
    with pytest.raises(ConfigurationError, match="'memory', 'database'"):
        App(plugins=[JobsPlugin(Jobs(), backend="rabbit")])


def test_the_database_backend_needs_the_database_plugin_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SQLAlchemyPlugin"):
        App(plugins=[JobsPlugin(Jobs(), backend="database")])
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    with pytest.raises(ConfigurationError, match="must come after it"):
        App(plugins=[JobsPlugin(Jobs(), backend="database"), SQLAlchemyPlugin(url)])


def test_worker_options_are_checked_when_the_plugin_is_made() -> None:
    with pytest.raises(ConfigurationError, match="concurrency=0"):
        JobsPlugin(Jobs(), concurrency=0)
    with pytest.raises(ConfigurationError, match="Jobs"):
        JobsPlugin("jobs")  # type: ignore[arg-type]


def test_every_worker_option_is_a_plugin_argument_and_a_worker_flag() -> None:
    from bastion.jobs import Worker
    from bastion.jobs.backend import JobsBackend
    from bastion.jobs.cli import worker_command
    from bastion.jobs.worker import WORKER_DEFAULTS, WorkerOptions

    options = set(WorkerOptions.__annotations__)
    assert options == set(WORKER_DEFAULTS)  # one default each
    plugin = JobsPlugin(Jobs(), backend="memory", **WORKER_DEFAULTS)  # every one accepted
    App(plugins=[plugin])
    assert isinstance(plugin.backend, JobsBackend)
    worker = Worker(Jobs(), plugin.backend, **WORKER_DEFAULTS)
    assert worker.concurrency == 10 and worker.cron is True
    flags = {
        name.lstrip("-").replace("-", "_")
        for param in worker_command(plugin).params
        for name in param.opts
    }
    assert options <= flags | {"cron"} and "no_cron" in flags


def test_plugin_worker_options_reach_its_workers() -> None:
    plugin = JobsPlugin(
        Jobs(), backend="memory", rescue_every=2.5, lease=9, poll=0.2, max_backoff=60, cron=False
    )
    App(plugins=[plugin])
    worker = plugin.make_worker()
    assert (worker.rescue_every, worker.lease, worker.poll) == (2.5, 9, 0.2)
    assert (worker.max_backoff, worker.cron) == (60, False)
    overridden = plugin.make_worker(rescue_every=1.0, cron=None)  # a flag left unset: None
    assert (overridden.rescue_every, overridden.cron) == (1.0, False)
    with pytest.raises(ConfigurationError, match="rescue_every=0"):
        JobsPlugin(Jobs(), rescue_every=0)


def test_run_worker_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_JOBS_WORKER", "yes")
    plugin = JobsPlugin(Jobs(), backend="memory")
    App(plugins=[plugin])
    assert plugin.run_worker is True
    monkeypatch.setenv("BASTION_JOBS_WORKER", "maybe")
    with pytest.raises(ConfigurationError, match="BASTION_JOBS_WORKER"):
        App(plugins=[JobsPlugin(Jobs(), backend="memory")])


# -- transactional enqueue on a backend that is not transactional (on_commit) ---------------


def transactional_app(tmp_path: Path) -> tuple[App, Jobs, object]:
    jobs = Jobs()

    @jobs.job
    async def notify(order: int) -> None:
        pass

    app = App(
        settings=Settings(profile="test"),
        plugins=[
            SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"),
            JobsPlugin(jobs, backend="memory"),
        ],
    )

    @app.post("/orders/{order:int}")
    async def place(order: int, db: AsyncSession, fail: bool = False) -> dict[str, int]:
        await db.execute(text("CREATE TABLE IF NOT EXISTS orders (id INTEGER)"))
        await db.execute(text("INSERT INTO orders VALUES (:id)"), {"id": order})
        await notify.using(session=db).enqueue(order=order)
        if fail:
            raise Conflict("refused after enqueueing")
        return {"order": order}

    return app, jobs, notify


async def test_a_job_enqueued_in_a_committed_transaction_is_stored(tmp_path: Path) -> None:
    app, jobs, notify = transactional_app(tmp_path)
    with JobsTester(jobs, app=app) as tester:
        async with AsyncTestClient(app) as client:
            assert (await client.post("/orders/1")).status_code == 201
        tester.assert_enqueued(notify, order=1)  # type: ignore[arg-type]


async def test_a_job_enqueued_in_a_rolled_back_transaction_never_exists(tmp_path: Path) -> None:
    app, jobs, notify = transactional_app(tmp_path)
    with JobsTester(jobs, app=app) as tester:
        async with AsyncTestClient(app) as client:
            assert (await client.post("/orders/2?fail=true")).status_code == 409
        tester.assert_not_enqueued()
        assert tester.backend._jobs == {}


@pytest.mark.skipif(
    not hasattr(bastion.db, "current_session"), reason="bastion.db.current_session not landed"
)
async def test_enqueue_joins_the_request_session_without_being_told(tmp_path: Path) -> None:
    jobs = Jobs()

    @jobs.job
    async def notify(order: int) -> None:
        pass

    app = App(
        settings=Settings(profile="test"),
        plugins=[
            SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"),
            JobsPlugin(jobs, backend="memory"),
        ],
    )

    @app.post("/orders/{order:int}")
    async def place(order: int, db: AsyncSession) -> None:
        await db.execute(text("CREATE TABLE IF NOT EXISTS orders (id INTEGER)"))
        await notify.enqueue(order=order)
        raise Conflict("rolled back")

    with JobsTester(jobs, app=app) as tester:
        async with AsyncTestClient(app) as client:
            assert (await client.post("/orders/3")).status_code == 409
        tester.assert_not_enqueued()


# -- observability --------------------------------------------------------------------------


async def test_metrics_count_jobs_by_name_and_queue() -> None:
    jobs = Jobs()
    done = asyncio.Event()

    @jobs.job(queue="mail")
    async def send() -> None:
        done.set()

    app = App(
        settings=Settings(profile="dev"),
        plugins=[
            ObservabilityPlugin(logs=None),
            JobsPlugin(jobs, backend="memory", run_worker=True, poll=0.05),
        ],
    )
    async with AsyncTestClient(app) as client:
        await send.enqueue()
        await asyncio.wait_for(done.wait(), 5)
        deadline = time.monotonic() + 5
        while True:
            body = (await client.get("/metrics")).text
            if 'bastion_jobs_succeeded_total{job="' in body or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    labels = f'job="{send.name}",queue="mail"'
    assert f"bastion_jobs_enqueued_total{{{labels}}} 1.0" in body
    assert f"bastion_jobs_started_total{{{labels}}} 1.0" in body
    assert f"bastion_jobs_succeeded_total{{{labels}}} 1.0" in body
    assert f"bastion_jobs_run_seconds_count{{{labels}}} 1.0" in body
    assert f"bastion_jobs_wait_seconds_count{{{labels}}} 1.0" in body


async def test_readiness_checks_the_jobs_backend() -> None:
    class Down(MemoryBackend):
        async def get(self, job_id: str) -> None:
            raise ConnectionError("backend unreachable")

    app = App(
        settings=Settings(profile="dev"),
        plugins=[JobsPlugin(Jobs(), backend=Down()), ObservabilityPlugin(logs=None)],
    )
    async with AsyncTestClient(app) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    check = response.json()["checks"]["jobs"]
    assert check["status"] == "DOWN" and "backend unreachable" in check["error"]


# -- cron ----------------------------------------------------------------------------------


async def test_a_cron_job_runs_on_its_schedule_in_the_worker() -> None:
    jobs = Jobs()
    ticks: list[float] = []

    @jobs.cron("* * * * * *")  # every second
    async def heartbeat() -> None:
        ticks.append(time.time())

    app = App(plugins=[JobsPlugin(jobs, backend="memory", run_worker=True, poll=0.05)])
    async with app.lifespan():
        deadline = time.monotonic() + 5
        while len(ticks) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert len(ticks) >= 2
    assert [entry.job for entry in jobs.crons] == [heartbeat.name]


def test_a_cron_job_with_required_arguments_fails_at_start_up() -> None:
    jobs = Jobs()

    @jobs.cron("*/5 * * * *")
    async def report(day: str) -> None:
        pass

    app = App(plugins=[JobsPlugin(jobs, backend="memory")])

    async def start() -> None:
        async with app.lifespan():
            pass

    with pytest.raises(ConfigurationError, match=r"takes arguments \(day\)"):
        asyncio.run(start())


def test_a_bad_cron_expression_fails_at_declaration() -> None:
    jobs = Jobs()
    with pytest.raises(ConfigurationError, match="not a cron expression"):

        @jobs.cron("every monday")
        async def weekly() -> None:
            pass


def test_cron_schedules_stack_on_one_job() -> None:
    jobs = Jobs()

    @jobs.cron("0 7 * * *", tz="Europe/Paris")
    @jobs.cron("0 19 * * *", tz="Europe/Paris")
    async def report() -> None:
        pass

    assert [c.expression for c in jobs.crons] == ["0 19 * * *", "0 7 * * *"]
    assert len({c.name for c in jobs.crons}) == 2
    assert list(jobs.jobs) == [report.name]


# -- tracing ---------------------------------------------------------------------------------


async def test_a_jobs_span_continues_the_trace_of_the_request_that_enqueued_it() -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="the otel extra is missing")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    jobs = Jobs()
    done = asyncio.Event()

    @jobs.job(max_attempts=1)
    async def audit(fail: bool) -> None:
        done.set()
        if fail:
            raise ValueError("audit refused")

    app = App(
        settings=Settings(profile="dev"),
        plugins=[
            ObservabilityPlugin(logs=None, tracing=True, tracer_provider=provider),
            JobsPlugin(jobs, backend="memory", run_worker=True, poll=0.05),
        ],
    )

    @app.post("/audit")
    async def enqueue_audit(fail: bool = False) -> None:
        await audit.enqueue(fail=fail)

    async with AsyncTestClient(app) as client:
        await client.post("/audit")
        await asyncio.wait_for(done.wait(), 5)
        done.clear()
        await client.post("/audit?fail=true")
        await asyncio.wait_for(done.wait(), 5)
        for _ in range(100):
            if len([s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]) == 2:
                break
            await asyncio.sleep(0.02)
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    runs = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert [s.name for s in runs] == [f"job {audit.name}"] * 2
    for server, run in zip(servers, runs, strict=True):
        assert run.context.trace_id == server.context.trace_id
        assert run.parent is not None and run.parent.span_id == server.context.span_id
        assert run.attributes["messaging.destination.name"] == "default"
    assert runs[0].status.status_code != StatusCode.ERROR
    assert runs[1].status.status_code == StatusCode.ERROR


def test_two_cron_schedules_of_one_name_fail_at_start_up() -> None:
    jobs = Jobs()

    @jobs.cron("@hourly")
    @jobs.cron("@hourly")
    @jobs.job
    async def report() -> None:
        pass

    app = App(plugins=[JobsPlugin(jobs, backend="memory", run_worker=True)])

    async def start() -> None:
        async with app.lifespan():
            pass

    with pytest.raises(ConfigurationError, match="two cron schedules are named .*name=") as info:
        asyncio.run(start())
    assert "@hourly" in str(info.value)
