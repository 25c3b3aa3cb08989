"""Defining and enqueueing jobs: arguments checked at the call site, options stored."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
import pytest

from bastion import App
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.jobs import InvalidJobArguments, Jobs, JobsPlugin, JobState, MemoryBackend


class Address(msgspec.Struct):
    city: str
    zip: Annotated[str, msgspec.Meta(pattern=r"^\d{5}$")]


class Mailer:
    """Not JSON: a job taking one must have it injected."""


def greeting() -> str:
    return "hello"


jobs = Jobs()


@jobs.job(queue="mail", max_attempts=3, timeout=10, priority=2, tags=("digest",))
async def send_digest(
    user_id: int,
    hello: Annotated[str, Depends(greeting)],
    request: Request,
    address: Address | None = None,
    when: datetime | None = None,
) -> None:
    """Send the digest."""


@jobs.job
async def plain() -> None:
    pass


@pytest.fixture
async def backend() -> AsyncIterator[MemoryBackend]:
    memory = MemoryBackend()
    app = App(plugins=[JobsPlugin(jobs, backend=memory)])
    async with app.lifespan():
        yield memory


async def test_enqueue_stores_the_arguments_and_the_jobs_options(backend: MemoryBackend) -> None:
    job_id = await send_digest.enqueue(user_id=7, address=Address("Paris", "75001"))
    record = await backend.get(job_id)
    assert record is not None
    assert record.name == "tests.jobs.test_core_enqueue.send_digest"
    assert msgspec.json.decode(record.args) == {
        "user_id": 7,
        "address": {"city": "Paris", "zip": "75001"},
    }
    assert (record.queue, record.max_attempts, record.timeout, record.priority) == (
        "mail",
        3,
        10,
        2,
    )
    assert record.tags == ("digest",)
    assert record.state is JobState.PENDING
    assert record.run_at <= time.time()


async def test_dependencies_are_not_arguments(backend: MemoryBackend) -> None:
    assert send_digest.spec.args == ("user_id", "address", "when")
    assert send_digest.spec.dependencies == ["hello", "request"]


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({"user_id": "seven"}, "args.user_id", "must be an integer"),
        ({}, "args.user_id", "is required"),
        ({"user_id": 1, "colour": "red"}, "args.colour", "is not a known field"),
        (
            {"user_id": 1, "address": {"city": "Paris", "zip": "x"}},
            "args.address.zip",
            "must match",
        ),
        ({"user_id": 1, "hello": "injected, not given"}, "args.hello", "is not a known field"),
        ({"user_id": 1, "when": object()}, "args.when", "cannot be stored as JSON"),
    ],
)
async def test_bad_arguments_fail_at_the_call_site(
    backend: MemoryBackend, kwargs: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InvalidJobArguments) as caught:
        await send_digest.enqueue(**kwargs)
    assert caught.value.errors[0]["field"] == field
    assert reason in caught.value.errors[0]["reason"]
    assert caught.value.status_code == 422  # escaping a handler, it is the caller's 422
    assert await backend.list() == []


async def test_using_overrides_options_for_one_call(backend: MemoryBackend) -> None:
    before = time.time()
    job_id = await send_digest.using(
        queue="low", priority=-1, delay=60, tags=["a", "b"], max_attempts=1, timeout=None
    ).enqueue(user_id=1)
    record = await backend.get(job_id)
    assert record is not None
    assert (record.queue, record.priority, record.max_attempts, record.timeout) == (
        "low",
        -1,
        1,
        None,
    )
    assert record.tags == ("a", "b")
    assert before + 59 <= record.run_at <= time.time() + 61
    assert send_digest.options.queue == "mail"  # the job's defaults are untouched


async def test_run_at_takes_an_aware_datetime_or_epoch_seconds(backend: MemoryBackend) -> None:
    at = datetime.now(UTC) + timedelta(hours=1)
    first = await plain.using(run_at=at).enqueue()
    second = await plain.using(run_at=at.timestamp() + 1).enqueue()
    third = await plain.using(delay=timedelta(minutes=5)).enqueue()
    records = [await backend.get(i) for i in (first, second, third)]
    assert [round(r.run_at) for r in records if r] == [
        round(at.timestamp()),
        round(at.timestamp() + 1),
        round(time.time() + 300),
    ]


async def test_unique_key_deduplicates_while_pending_and_within_its_window(
    backend: MemoryBackend,
) -> None:
    first = await plain.using(unique="k", unique_for=3600).enqueue()
    assert await plain.using(unique="k").enqueue() == first
    record = await backend.get(first)
    assert record is not None and record.unique_until is not None
    assert record.unique_until > time.time() + 3500
    assert await plain.using(unique="other").enqueue() != first


async def test_enqueue_many_stores_every_run_in_one_call(backend: MemoryBackend) -> None:
    ids = await send_digest.enqueue_many({"user_id": i} for i in range(5))
    assert len(set(ids)) == 5
    assert len(await backend.list(queue="mail")) == 5
    assert await send_digest.enqueue_many([]) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delay": 5, "run_at": time.time()}, "not both"),
        ({"delay": -1}, "delay=-1"),
        ({"max_attempts": 0}, "max_attempts=0"),
        ({"timeout": 0}, "timeout=0"),
        ({"queue": ""}, "queue=''"),
        ({"priority": 1.5}, "priority=1.5"),
        ({"run_at": datetime(2030, 1, 1)}, "aware datetime"),
        ({"unique_for": 60}, "unique_for= needs unique="),
        ({"tags": "digest"}, "sequence of strings"),
    ],
)
def test_bad_options_are_refused_with_the_reason(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="send_digest.using") as caught:
        send_digest.using(**options)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_bad_job_options_fail_at_declaration() -> None:
    registry = Jobs()
    with pytest.raises(ValueError, match="max_attempts=0"):

        @registry.job(max_attempts=0)
        async def nothing() -> None:
            pass


async def test_enqueue_without_a_plugin_says_what_to_add() -> None:
    registry = Jobs()

    @registry.job
    async def orphan() -> None:
        pass

    with pytest.raises(ConfigurationError, match=r"JobsPlugin\(jobs\)"):
        await orphan.enqueue()


def test_a_job_stays_callable_as_the_function() -> None:
    registry = Jobs()

    @registry.job
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert add.name.endswith("add")


def test_two_jobs_with_one_name_are_refused() -> None:
    registry = Jobs()

    @registry.job(name="same")
    async def one() -> None:
        pass

    with pytest.raises(ConfigurationError, match="already registered"):

        @registry.job(name="same")
        async def two() -> None:
            pass


def test_included_registries_share_the_apps_backend() -> None:
    billing = Jobs()

    @billing.job
    async def invoice(order_id: int) -> None:
        pass

    root = Jobs()
    root.include(billing)
    JobsPlugin(root).on_app_init(App())
    assert invoice.registry.runtime("test").backend is root.runtime("test").backend
    assert invoice.name in root.jobs


def test_a_job_argument_that_cannot_be_json_says_how_to_inject_it() -> None:
    registry = Jobs()

    @registry.job
    async def send(mailer: Mailer) -> None:
        pass

    JobsPlugin(registry).on_app_init(App())
    with pytest.raises(ConfigurationError, match=r"Depends\(\.\.\.\) or a provider"):
        send.spec  # noqa: B018
