"""The behaviour every ``JobsBackend`` must show: one suite, run against each backend.

A backend's test module imports the suite and provides a ``backend`` fixture that yields a
*started, empty* backend (a new one, or the same one emptied, per test)::

    from tests.jobs.backend_suite import *  # noqa: F403

    @pytest.fixture
    async def backend() -> AsyncIterator[JobsBackend]:
        b = MemoryBackend()
        await b.start()
        yield b
        await b.stop()

The concurrency tests also use ``peer``: a second backend object on the same store (another
connection or pool, as another worker process would have). It defaults to ``backend``
itself; a module whose backend holds connections overrides it with its own fixture.

Times are epoch seconds from ``time.time()``; leases in these tests are a fraction of a
second so the suite runs in seconds. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from bastion.jobs.backend import JobsBackend
from bastion.jobs.record import JobRecord, JobState

__all__ = [
    "peer",
    "test_cancel_finished_or_unknown_is_false",
    "test_cancel_pending_job_is_never_claimed",
    "test_cancel_running_job_is_seen_by_extend_and_ends_cancelled",
    "test_claim_is_atomic_under_concurrent_claimers",
    "test_claim_marks_running_under_a_lease_and_counts_the_attempt",
    "test_claim_orders_by_priority_then_run_at",
    "test_claim_respects_limit_and_never_hands_out_a_leased_job",
    "test_claim_takes_only_named_queues",
    "test_claim_waits_for_run_at",
    "test_counts_by_queue_and_state",
    "test_enqueue_returns_ids_in_order_and_stores_every_field",
    "test_enqueue_many_in_one_call",
    "test_extend_renews_the_lease",
    "test_fail_keeps_the_job_failed_with_its_error",
    "test_get_unknown_is_none",
    "test_lead_expires_and_another_holder_takes_over",
    "test_lead_is_exclusive_and_renewable",
    "test_lead_names_are_independent",
    "test_list_filters_and_orders_newest_first",
    "test_purge_deletes_only_finished_jobs_of_the_states_before_the_time",
    "test_purge_keeps_a_job_holding_its_unique_key_until_its_window_ends",
    "test_release_returns_jobs_without_counting_the_attempt",
    "test_requeue_runs_a_failed_or_cancelled_job_again",
    "test_requeue_refuses_pending_running_succeeded_or_unknown",
    "test_rescue_fails_expired_job_with_no_attempt_left",
    "test_rescue_makes_expired_leases_pending_again",
    "test_retry_puts_job_back_until_run_at_with_its_error",
    "test_succeed_after_lost_lease_is_ignored",
    "test_succeed_many_marks_each_held_job_succeeded",
    "test_succeed_marks_succeeded",
    "test_unique_key_free_again_after_finish_without_window",
    "test_unique_key_held_within_window_after_finish",
    "test_unique_key_held_while_pending_and_running",
    "test_unique_key_in_one_batch",
    "test_wait_is_bounded",
    "test_wait_returns_when_a_job_enqueued_for_later_falls_due",
    "test_wait_wakes_on_enqueue",
]

LEASE = 30.0  # a lease that never runs out during a test
SHORT = 0.3  # a lease (or window) that does, soon


def rec(name: str = "tests.job", **fields: object) -> JobRecord:
    """A record that is claimable now (run_at a little in the past)."""
    fields.setdefault("run_at", time.time() - 1.0)
    return JobRecord(name=name, **fields)  # type: ignore[arg-type]


async def one(
    backend: JobsBackend,
    *,
    worker: str = "w1",
    lease: float = LEASE,
    queues: Sequence[str] = ("default",),
) -> JobRecord:
    jobs = await backend.claim(queues, 1, worker=worker, lease=lease)
    assert len(jobs) == 1, jobs
    return jobs[0]


async def state(backend: JobsBackend, job_id: str) -> JobState:
    record = await backend.get(job_id)
    assert record is not None
    return record.state


@pytest.fixture
def peer(backend: JobsBackend) -> JobsBackend:
    """A second handle on the same store; backends with connections override this."""
    return backend


# -- enqueue and get ---------------------------------------------------------------------


async def test_enqueue_returns_ids_in_order_and_stores_every_field(backend: JobsBackend) -> None:
    run_at = time.time() + 3600
    first = rec(
        "app.jobs.send",
        queue="mail",
        args=b'{"user_id":7,"note":"caf\xc3\xa9"}',
        priority=3,
        run_at=run_at,
        max_attempts=7,
        timeout=2.5,
        tags=("digest", "weekly"),
        trace={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    second = rec()
    ids = await backend.enqueue([first, second])
    assert ids == [first.id, second.id]

    stored = await backend.get(first.id)
    assert stored is not None
    assert stored.name == "app.jobs.send"
    assert stored.queue == "mail"
    assert stored.args == b'{"user_id":7,"note":"caf\xc3\xa9"}'
    assert stored.priority == 3
    assert stored.run_at == pytest.approx(run_at, abs=0.01)
    assert stored.max_attempts == 7
    assert stored.timeout == pytest.approx(2.5)
    assert tuple(stored.tags) == ("digest", "weekly")
    assert stored.trace == first.trace
    assert stored.state is JobState.PENDING
    assert stored.attempt == 0
    assert stored.errors == []
    assert stored.worker is None
    assert stored.finished_at is None

    plain = await backend.get(second.id)
    assert plain is not None
    assert plain.timeout is None and plain.trace is None and plain.unique_key is None


async def test_enqueue_many_in_one_call(backend: JobsBackend) -> None:
    records = [rec(args=b'{"i":%d}' % i) for i in range(200)]
    ids = await backend.enqueue(records)
    assert ids == [r.id for r in records]
    assert (await backend.counts()).get(("default", JobState.PENDING), 0) == 200


async def test_get_unknown_is_none(backend: JobsBackend) -> None:
    assert await backend.get("0" * 32) is None


# -- claim -------------------------------------------------------------------------------


async def test_claim_orders_by_priority_then_run_at(backend: JobsBackend) -> None:
    now = time.time()
    late_urgent = rec(priority=0, run_at=now - 1)
    early_urgent = rec(priority=0, run_at=now - 5)
    lazy = rec(priority=10, run_at=now - 100)
    negative = rec(priority=-1, run_at=now - 0.5)
    await backend.enqueue([lazy, late_urgent, negative, early_urgent])
    claimed = await backend.claim(["default"], 10, worker="w1", lease=LEASE)
    assert [j.id for j in claimed] == [negative.id, early_urgent.id, late_urgent.id, lazy.id]


async def test_claim_waits_for_run_at(backend: JobsBackend) -> None:
    later = rec(run_at=time.time() + SHORT)
    far = rec(run_at=time.time() + 3600)
    await backend.enqueue([later, far])
    assert await backend.claim(["default"], 10, worker="w1", lease=LEASE) == []
    await asyncio.sleep(SHORT + 0.1)
    claimed = await backend.claim(["default"], 10, worker="w1", lease=LEASE)
    assert [j.id for j in claimed] == [later.id]


async def test_claim_takes_only_named_queues(backend: JobsBackend) -> None:
    mail, low, other = rec(queue="mail"), rec(queue="low"), rec(queue="other")
    await backend.enqueue([mail, low, other])
    claimed = await backend.claim(["mail", "low"], 10, worker="w1", lease=LEASE)
    assert {j.id for j in claimed} == {mail.id, low.id}
    assert await state(backend, other.id) is JobState.PENDING


async def test_claim_marks_running_under_a_lease_and_counts_the_attempt(
    backend: JobsBackend,
) -> None:
    job = rec()
    await backend.enqueue([job])
    before = time.time()
    claimed = await one(backend, worker="w1", lease=10.0)
    assert claimed.id == job.id
    assert claimed.state is JobState.RUNNING
    assert claimed.worker == "w1"
    assert claimed.attempt == 1
    assert claimed.args == job.args
    assert claimed.lease_until is not None
    assert before + 9 <= claimed.lease_until <= time.time() + 11
    assert claimed.started_at is not None and claimed.started_at >= before - 1
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.RUNNING and stored.worker == "w1" and stored.attempt == 1


async def test_claim_respects_limit_and_never_hands_out_a_leased_job(backend: JobsBackend) -> None:
    await backend.enqueue([rec() for _ in range(5)])
    first = await backend.claim(["default"], 2, worker="w1", lease=LEASE)
    second = await backend.claim(["default"], 2, worker="w2", lease=LEASE)
    third = await backend.claim(["default"], 2, worker="w3", lease=LEASE)
    fourth = await backend.claim(["default"], 2, worker="w4", lease=LEASE)
    assert [len(first), len(second), len(third), len(fourth)] == [2, 2, 1, 0]
    ids = [j.id for j in first + second + third]
    assert len(set(ids)) == 5


async def test_claim_is_atomic_under_concurrent_claimers(
    backend: JobsBackend, peer: JobsBackend
) -> None:
    records = [rec() for _ in range(60)]
    await backend.enqueue(records)
    seen: list[str] = []

    async def claimer(handle: JobsBackend, name: str) -> None:
        for _ in range(100):
            got = await handle.claim(["default"], 3, worker=name, lease=LEASE)
            if not got:
                return
            seen.extend(j.id for j in got)

    await asyncio.wait_for(
        asyncio.gather(*(claimer(backend if i % 2 else peer, f"w{i}") for i in range(8))),
        timeout=30,
    )
    assert sorted(seen) == sorted(r.id for r in records)  # each exactly once


# -- wait --------------------------------------------------------------------------------


async def test_wait_is_bounded(backend: JobsBackend) -> None:
    start = time.monotonic()
    await asyncio.wait_for(backend.wait(["default"], 0.05), timeout=5)
    assert time.monotonic() - start < 5


async def test_wait_wakes_on_enqueue(backend: JobsBackend, peer: JobsBackend) -> None:
    waiter = asyncio.create_task(peer.wait(["default"], 10.0))
    await asyncio.sleep(0.05)  # let it start waiting
    start = time.monotonic()
    await backend.enqueue([rec()])
    await asyncio.wait_for(waiter, timeout=3)
    assert time.monotonic() - start < 3


async def test_wait_returns_when_a_job_enqueued_for_later_falls_due(backend: JobsBackend) -> None:
    """A cron tick is queued ahead for its run_at: a waiting worker must not sleep past it
    (a return before it is due is fine: the worker claims nothing and waits again)."""
    job = rec(run_at=time.time() + SHORT)
    await backend.enqueue([job])
    start = time.monotonic()
    claimed: list[JobRecord] = []
    while not claimed and time.monotonic() - start < 5:
        await asyncio.wait_for(backend.wait(["default"], 5.0), timeout=6)
        claimed = await backend.claim(["default"], 1, worker="w1", lease=LEASE)
    assert [c.id for c in claimed] == [job.id]
    assert time.monotonic() - start < SHORT + 1.5  # not the wait's 5 s


# -- unique keys -------------------------------------------------------------------------


async def test_unique_key_held_while_pending_and_running(backend: JobsBackend) -> None:
    first = rec(unique_key="digest:7")
    assert await backend.enqueue([first]) == [first.id]
    assert await backend.enqueue([rec(unique_key="digest:7")]) == [first.id]
    await one(backend)
    assert await backend.enqueue([rec(unique_key="digest:7")]) == [first.id]
    other = rec(unique_key="digest:8")
    assert await backend.enqueue([other]) == [other.id]
    counts = await backend.counts()
    assert counts.get(("default", JobState.PENDING), 0) == 1
    assert counts.get(("default", JobState.RUNNING), 0) == 1


async def test_unique_key_in_one_batch(backend: JobsBackend) -> None:
    a, b, c = rec(unique_key="k"), rec(unique_key="k"), rec()
    assert await backend.enqueue([a, b, c]) == [a.id, a.id, c.id]
    assert await backend.get(b.id) is None


async def test_unique_key_free_again_after_finish_without_window(backend: JobsBackend) -> None:
    first = rec(unique_key="once")
    await backend.enqueue([first])
    await one(backend)
    await backend.succeed(first.id, worker="w1")
    again = rec(unique_key="once")
    assert await backend.enqueue([again]) == [again.id]


async def test_unique_key_held_within_window_after_finish(backend: JobsBackend) -> None:
    first = rec(unique_key="window", unique_until=time.time() + SHORT)
    await backend.enqueue([first])
    await one(backend)
    await backend.succeed(first.id, worker="w1")
    assert await backend.enqueue([rec(unique_key="window")]) == [first.id]
    await asyncio.sleep(SHORT + 0.1)
    later = rec(unique_key="window")
    assert await backend.enqueue([later]) == [later.id]


# -- outcomes ----------------------------------------------------------------------------


async def test_succeed_marks_succeeded(backend: JobsBackend) -> None:
    job = rec()
    await backend.enqueue([job])
    await one(backend)
    await backend.succeed(job.id, worker="w1")
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.SUCCEEDED
    assert stored.finished_at is not None and stored.finished_at <= time.time() + 1
    assert await backend.claim(["default"], 10, worker="w1", lease=LEASE) == []


async def test_succeed_many_marks_each_held_job_succeeded(backend: JobsBackend) -> None:
    jobs = [rec(unique_key=f"k{i}") for i in range(3)] + [rec(), rec()]
    await backend.enqueue(jobs)
    held = await backend.claim(["default"], 4, worker="w1", lease=LEASE)
    other = await one(backend, worker="w2")
    await backend.succeed_many([j.id for j in held] + [other.id], worker="w1")
    for job in held:
        record = await backend.get(job.id)
        assert record is not None and record.state is JobState.SUCCEEDED
        assert record.finished_at is not None and record.worker is None
    assert await state(backend, other.id) is JobState.RUNNING  # w2's lease: left alone
    await backend.succeed_many([], worker="w1")
    fresh = rec(unique_key="k0")
    assert await backend.enqueue([fresh]) == [fresh.id]  # keys given up as by succeed


async def test_retry_puts_job_back_until_run_at_with_its_error(backend: JobsBackend) -> None:
    job = rec(max_attempts=3)
    await backend.enqueue([job])
    await one(backend)
    await backend.retry(job.id, worker="w1", run_at=time.time() + SHORT, error="ValueError: boom")
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.PENDING
    assert stored.attempt == 1
    assert stored.errors == ["ValueError: boom"]
    assert await backend.claim(["default"], 10, worker="w1", lease=LEASE) == []
    await asyncio.sleep(SHORT + 0.1)
    again = await one(backend, worker="w2")
    assert again.id == job.id and again.attempt == 2 and again.worker == "w2"


async def test_fail_keeps_the_job_failed_with_its_error(backend: JobsBackend) -> None:
    job = rec(max_attempts=1)
    await backend.enqueue([job])
    await one(backend)
    await backend.fail(job.id, worker="w1", error="TimeoutError: ran over 2s")
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.FAILED
    assert stored.errors == ["TimeoutError: ran over 2s"]
    assert stored.finished_at is not None
    assert await backend.claim(["default"], 10, worker="w1", lease=LEASE) == []


async def test_release_returns_jobs_without_counting_the_attempt(backend: JobsBackend) -> None:
    a, b = rec(), rec()
    await backend.enqueue([a, b])
    claimed = await backend.claim(["default"], 2, worker="w1", lease=LEASE)
    assert len(claimed) == 2
    await backend.release([a.id, b.id], worker="w1")
    for job_id in (a.id, b.id):
        stored = await backend.get(job_id)
        assert stored is not None
        assert stored.state is JobState.PENDING and stored.attempt == 0
    again = await backend.claim(["default"], 2, worker="w2", lease=LEASE)
    assert {j.id for j in again} == {a.id, b.id}
    assert all(j.attempt == 1 for j in again)


# -- leases ------------------------------------------------------------------------------


async def test_extend_renews_the_lease(backend: JobsBackend) -> None:
    job = rec()
    await backend.enqueue([job])
    await one(backend, lease=SHORT)
    assert await backend.extend([job.id], worker="w1", lease=LEASE) == set()
    await asyncio.sleep(SHORT + 0.1)
    assert await backend.rescue() == 0
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.RUNNING and stored.worker == "w1"
    assert stored.lease_until is not None and stored.lease_until > time.time() + 10


async def test_rescue_makes_expired_leases_pending_again(backend: JobsBackend) -> None:
    job, kept = rec(max_attempts=3), rec()
    await backend.enqueue([job])
    await one(backend, worker="dead", lease=SHORT)
    await backend.enqueue([kept])
    await one(backend, worker="alive", lease=LEASE)
    await asyncio.sleep(SHORT + 0.1)
    assert await backend.rescue() == 1
    assert await state(backend, kept.id) is JobState.RUNNING
    again = await one(backend, worker="w2")
    assert again.id == job.id and again.attempt == 2


async def test_succeed_after_lost_lease_is_ignored(backend: JobsBackend) -> None:
    job = rec(max_attempts=3)
    await backend.enqueue([job])
    await one(backend, worker="slow", lease=SHORT)
    await asyncio.sleep(SHORT + 0.1)
    assert await backend.rescue() == 1
    await one(backend, worker="w2")
    await backend.succeed(job.id, worker="slow")  # the lease was lost: ignored
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.RUNNING and stored.worker == "w2"
    await backend.succeed(job.id, worker="w2")
    assert await state(backend, job.id) is JobState.SUCCEEDED


async def test_rescue_fails_expired_job_with_no_attempt_left(backend: JobsBackend) -> None:
    job = rec(max_attempts=1)
    await backend.enqueue([job])
    await one(backend, worker="dead", lease=SHORT)
    await asyncio.sleep(SHORT + 0.1)
    assert await backend.rescue() == 1
    stored = await backend.get(job.id)
    assert stored is not None
    assert stored.state is JobState.FAILED
    assert stored.errors and stored.errors[-1]  # says why (the lease ran out)
    assert await backend.claim(["default"], 10, worker="w2", lease=LEASE) == []


# -- cancel and requeue ------------------------------------------------------------------


async def test_cancel_pending_job_is_never_claimed(backend: JobsBackend) -> None:
    job = rec(run_at=time.time() + SHORT)
    await backend.enqueue([job])
    assert await backend.cancel(job.id) is True
    assert await state(backend, job.id) is JobState.CANCELLED
    await asyncio.sleep(SHORT + 0.1)
    assert await backend.claim(["default"], 10, worker="w1", lease=LEASE) == []


async def test_cancel_running_job_is_seen_by_extend_and_ends_cancelled(
    backend: JobsBackend,
) -> None:
    job, other = rec(max_attempts=5), rec()
    await backend.enqueue([job, other])
    await backend.claim(["default"], 2, worker="w1", lease=LEASE)
    assert await backend.cancel(job.id) is True
    stored = await backend.get(job.id)
    assert stored is not None and stored.cancel_requested
    assert await backend.extend([job.id, other.id], worker="w1", lease=LEASE) == {job.id}
    # the worker stops it and reports the attempt as failed: a cancelled job is not retried
    await backend.fail(job.id, worker="w1", error="cancelled")
    assert await state(backend, job.id) is JobState.CANCELLED
    assert await backend.claim(["default"], 10, worker="w1", lease=LEASE) == []


async def test_cancel_finished_or_unknown_is_false(backend: JobsBackend) -> None:
    job = rec()
    await backend.enqueue([job])
    await one(backend)
    await backend.succeed(job.id, worker="w1")
    assert await backend.cancel(job.id) is False
    assert await state(backend, job.id) is JobState.SUCCEEDED
    assert await backend.cancel("f" * 32) is False


async def test_requeue_runs_a_failed_or_cancelled_job_again(backend: JobsBackend) -> None:
    failed, cancelled = rec(max_attempts=1), rec(run_at=time.time() + 3600)
    await backend.enqueue([failed, cancelled])
    await one(backend)
    await backend.fail(failed.id, worker="w1", error="boom")
    await backend.cancel(cancelled.id)

    assert await backend.requeue(failed.id) is True
    assert await backend.requeue(cancelled.id) is True
    for job_id in (failed.id, cancelled.id):
        stored = await backend.get(job_id)
        assert stored is not None
        assert stored.state is JobState.PENDING and stored.attempt == 0
        assert not stored.cancel_requested
    claimed = await backend.claim(["default"], 10, worker="w2", lease=LEASE)
    assert {j.id for j in claimed} == {failed.id, cancelled.id}  # requeued to run now


async def test_requeue_refuses_pending_running_succeeded_or_unknown(backend: JobsBackend) -> None:
    pending, running, done = rec(run_at=time.time() + 3600), rec(), rec()
    await backend.enqueue([running, done])
    await backend.claim(["default"], 2, worker="w1", lease=LEASE)
    await backend.succeed(done.id, worker="w1")
    await backend.enqueue([pending])
    for job_id in (pending.id, running.id, done.id, "e" * 32):
        assert await backend.requeue(job_id) is False
    assert await state(backend, running.id) is JobState.RUNNING


# -- inspection --------------------------------------------------------------------------


async def test_list_filters_and_orders_newest_first(backend: JobsBackend) -> None:
    now = time.time()
    old = rec("a", queue="mail", enqueued_at=now - 30)
    mid = rec("b", queue="mail", enqueued_at=now - 20)
    new = rec("a", queue="low", enqueued_at=now - 10)
    await backend.enqueue([old, mid, new])
    await one(backend, queues=["low"])
    assert [j.id for j in await backend.list()] == [new.id, mid.id, old.id]
    assert [j.id for j in await backend.list(queue="mail")] == [mid.id, old.id]
    assert [j.id for j in await backend.list(name="a")] == [new.id, old.id]
    assert [j.id for j in await backend.list(state=JobState.RUNNING)] == [new.id]
    assert [j.id for j in await backend.list(state=JobState.PENDING, name="a")] == [old.id]
    assert [j.id for j in await backend.list(limit=2)] == [new.id, mid.id]
    assert await backend.list(queue="nowhere") == []


async def test_counts_by_queue_and_state(backend: JobsBackend) -> None:
    await backend.enqueue([rec(queue="mail"), rec(queue="mail"), rec(queue="low")])
    job = await one(backend, queues=["low"])
    await backend.succeed(job.id, worker="w1")
    await one(backend, queues=["mail"])
    counts = await backend.counts()
    assert counts.get(("mail", JobState.PENDING), 0) == 1
    assert counts.get(("mail", JobState.RUNNING), 0) == 1
    assert counts.get(("low", JobState.SUCCEEDED), 0) == 1
    assert counts.get(("low", JobState.PENDING), 0) == 0
    assert sum(counts.values()) == 3


async def test_purge_deletes_only_finished_jobs_of_the_states_before_the_time(
    backend: JobsBackend,
) -> None:
    ok1, ok2, bad, waiting = rec(), rec(), rec(max_attempts=1), rec(run_at=time.time() + 3600)
    await backend.enqueue([ok1, ok2, bad, waiting])
    await backend.claim(["default"], 3, worker="w1", lease=LEASE)
    await backend.succeed(ok1.id, worker="w1")
    await backend.succeed(ok2.id, worker="w1")
    await backend.fail(bad.id, worker="w1", error="boom")

    assert await backend.purge(states=[JobState.SUCCEEDED], older_than=time.time() - 3600) == 0
    assert await backend.purge(states=[JobState.SUCCEEDED], older_than=time.time() + 1) == 2
    assert await backend.get(ok1.id) is None and await backend.get(ok2.id) is None
    assert await state(backend, bad.id) is JobState.FAILED
    assert await state(backend, waiting.id) is JobState.PENDING
    assert await backend.purge(states=[JobState.FAILED], older_than=time.time() + 1) == 1
    assert await state(backend, waiting.id) is JobState.PENDING


async def test_purge_keeps_a_job_holding_its_unique_key_until_its_window_ends(
    backend: JobsBackend,
) -> None:
    """A cron tick's key outlives its job (unique_until) so the tick is not stored again: a
    purge must not free it early."""
    held, plain = rec(unique_key="tick", unique_until=time.time() + SHORT), rec()
    await backend.enqueue([held, plain])
    await backend.claim(["default"], 2, worker="w1", lease=LEASE)
    await backend.succeed(held.id, worker="w1")
    await backend.succeed(plain.id, worker="w1")

    assert await backend.purge(states=[JobState.SUCCEEDED], older_than=time.time() + 1) == 1
    assert await backend.get(plain.id) is None
    assert await state(backend, held.id) is JobState.SUCCEEDED
    assert await backend.enqueue([rec(unique_key="tick")]) == [held.id]

    await asyncio.sleep(SHORT + 0.1)
    assert await backend.purge(states=[JobState.SUCCEEDED], older_than=time.time() + 1) == 1
    assert await backend.get(held.id) is None
    again = rec(unique_key="tick")
    assert await backend.enqueue([again]) == [again.id]


# -- leadership --------------------------------------------------------------------------


async def test_lead_is_exclusive_and_renewable(backend: JobsBackend, peer: JobsBackend) -> None:
    assert await backend.lead("cron", holder="a", ttl=LEASE) is True
    assert await peer.lead("cron", holder="b", ttl=LEASE) is False
    assert await backend.lead("cron", holder="a", ttl=LEASE) is True  # renewal
    assert await peer.lead("cron", holder="b", ttl=LEASE) is False


async def test_lead_expires_and_another_holder_takes_over(
    backend: JobsBackend, peer: JobsBackend
) -> None:
    assert await backend.lead("cron", holder="a", ttl=SHORT) is True
    await asyncio.sleep(SHORT + 0.1)
    assert await peer.lead("cron", holder="b", ttl=LEASE) is True
    assert await backend.lead("cron", holder="a", ttl=LEASE) is False


async def test_lead_names_are_independent(backend: JobsBackend) -> None:
    assert await backend.lead("cron", holder="a", ttl=LEASE) is True
    assert await backend.lead("other", holder="b", ttl=LEASE) is True
    assert await backend.lead("cron", holder="b", ttl=LEASE) is False
