"""bastion.jobs.testing: assert what was enqueued, drain queues, run jobs inline."""

from typing import Annotated

import pytest

from bastion import App
from bastion.di.depends import Depends
from bastion.jobs import InvalidJobArguments, Jobs, JobsPlugin, MemoryBackend
from bastion.jobs.testing import JobsTester

jobs = Jobs()
sent: list[str] = []


def signature() -> str:
    return "-- the team"


@jobs.job(queue="mail")
async def send_mail(to: str, sign: Annotated[str, Depends(signature)]) -> None:
    sent.append(f"{to} {sign}")


@jobs.job
async def welcome(user: str) -> None:
    await send_mail.enqueue(to=user)


@jobs.job(max_attempts=2)
async def explode() -> None:
    raise RuntimeError("boom")


app = App(plugins=[JobsPlugin(jobs, backend=MemoryBackend())])


@pytest.fixture(autouse=True)
def clean() -> None:
    sent.clear()


async def test_assert_enqueued_finds_a_run_by_its_arguments() -> None:
    with JobsTester(jobs, app=app) as tester:
        await welcome.enqueue(user="ada@example.com")
        run = tester.assert_enqueued(welcome, user="ada@example.com")
        assert run.kwargs == {"user": "ada@example.com"}
        with pytest.raises(AssertionError, match=r"user='bob'\) was not enqueued"):
            tester.assert_enqueued(welcome, user="bob")
        with pytest.raises(AssertionError, match="expected no job"):
            tester.assert_not_enqueued(welcome)
        tester.assert_not_enqueued(send_mail)


async def test_drain_runs_jobs_and_the_jobs_they_enqueue() -> None:
    with JobsTester(jobs, app=app) as tester:
        await welcome.enqueue(user="ada@example.com")
        assert await tester.drain() == 2
        assert sent == ["ada@example.com -- the team"]


async def test_drain_can_run_delayed_jobs_now() -> None:
    with JobsTester(jobs, app=app) as tester:
        await send_mail.using(delay=3600).enqueue(to="later@example.com")
        assert await tester.drain() == 0
        assert await tester.drain(due=True) == 1
        assert sent == ["later@example.com -- the team"]


async def test_drain_raises_what_a_job_raised() -> None:
    with JobsTester(jobs, app=app) as tester:
        await explode.enqueue()
        with pytest.raises(RuntimeError, match="boom"):
            await tester.drain()


async def test_inline_runs_each_job_when_it_is_enqueued() -> None:
    with JobsTester(jobs, app=app, inline=True):
        await welcome.enqueue(user="ada@example.com")
        assert sent == ["ada@example.com -- the team"]


async def test_run_calls_a_job_now_with_its_dependencies() -> None:
    with JobsTester(jobs, app=app) as tester:
        await tester.run(send_mail, to="now@example.com")
        assert sent == ["now@example.com -- the team"]
        with pytest.raises(InvalidJobArguments):
            await tester.run(send_mail, to=7)


async def test_closing_the_tester_gives_the_apps_backend_back() -> None:
    plugin = next(p for p in app.plugins if isinstance(p, JobsPlugin))
    with JobsTester(jobs, app=app) as tester:
        assert jobs.runtime("test").backend is tester.backend
    assert jobs.runtime("test").backend is plugin.backend
