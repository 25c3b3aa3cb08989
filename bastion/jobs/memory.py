"""The in-memory jobs backend: one process, nothing installed (tests, the embedded default).

Jobs live in a dict and die with the process, so it is for tests and for apps that accept
losing pending jobs on restart. Every method runs without awaiting in between, so on one event
loop each is atomic, which is all claiming needs. Records are copied in and out: a caller
holding a returned record cannot change what is stored.

Pending jobs are kept in heaps per queue, as the Redis backend keeps sorted sets: those due
by (priority, run_at, enqueue order), those waiting for their run_at by run_at, moved over
when they fall due; so a claim costs what it takes, not a scan of every stored job. An entry
is valid while its job is pending with that entry's number (``_entry``): a job claimed,
cancelled or rescheduled leaves its old entries behind, dropped when they come up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from bastion.jobs.record import FINISHED, JobRecord, JobState

_copy = msgspec.structs.replace


class MemoryBackend:
    """A ``JobsBackend`` in a dict. ``MemoryBackend()`` is empty; jobs are lost on exit."""

    transactional = False

    def __init__(self) -> None:
        self._jobs: dict[str, JobRecord] = {}
        self._unique: dict[str, str] = {}  # unique_key -> id of the job holding it
        self._leaders: dict[str, tuple[str, float]] = {}
        self._wakeup = asyncio.Event()
        self._due: dict[str, list[tuple[int, float, float, int, str]]] = {}  # by queue
        self._later: dict[str, list[tuple[float, int, str]]] = {}  # by queue, by run_at
        self._entry: dict[str, int] = {}  # job id -> the number of its valid heap entry
        self._numbers = itertools.count()

    def __repr__(self) -> str:
        return f"MemoryBackend({len(self._jobs)} jobs)"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._wakeup.set()  # let waiting workers notice

    # -- producing -------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], *, session: Any = None) -> list[str]:
        now = time.time()
        ids: list[str] = []
        for record in records:
            holder = self._holder(record.unique_key, now)
            if holder is not None:
                ids.append(holder)
                continue
            stored = _copy(record, state=JobState.PENDING, errors=list(record.errors))
            self._jobs[stored.id] = stored
            if stored.unique_key is not None:
                self._unique[stored.unique_key] = stored.id
            self._push(stored, now)
            ids.append(stored.id)
        self._wake()
        return ids

    def _holder(self, key: str | None, now: float) -> str | None:
        if key is None:
            return None
        job_id = self._unique.get(key)
        job = self._jobs.get(job_id) if job_id is not None else None
        if job is None:
            return None
        if job.state not in FINISHED:
            return job.id
        if job.unique_until is not None and job.unique_until > now:
            return job.id
        return None

    def _wake(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _push(self, job: JobRecord, now: float) -> None:
        """File a pending job under its queue: due now, or waiting for its run_at."""
        number = next(self._numbers)
        self._entry[job.id] = number
        if job.run_at <= now:
            entry = (job.priority, job.run_at, job.enqueued_at, number, job.id)
            heapq.heappush(self._due.setdefault(job.queue, []), entry)
        else:
            heapq.heappush(self._later.setdefault(job.queue, []), (job.run_at, number, job.id))

    def _valid(self, number: int, job_id: str) -> JobRecord | None:
        job = self._jobs.get(job_id)
        if job is None or job.state is not JobState.PENDING or self._entry.get(job_id) != number:
            return None
        return job

    def _next_later(self, queue: str) -> float:
        """When the first job of ``queue`` waiting for its run_at is due (inf: none)."""
        later = self._later.get(queue)
        while later:
            run_at, number, job_id = later[0]
            if self._valid(number, job_id) is not None:
                return run_at
            heapq.heappop(later)
        return math.inf

    def _move_due(self, queue: str, now: float) -> list[tuple[int, float, float, int, str]]:
        """``queue``'s heap of due jobs, after moving over those whose run_at has come."""
        due = self._due.setdefault(queue, [])
        later = self._later.get(queue)
        while later and later[0][0] <= now:
            _, number, job_id = heapq.heappop(later)
            job = self._valid(number, job_id)
            if job is not None:
                entry = (job.priority, job.run_at, job.enqueued_at, number, job_id)
                heapq.heappush(due, entry)
        return due

    def _head(self, due: list[tuple[int, float, float, int, str]]) -> JobRecord | None:
        while due:
            job = self._valid(due[0][3], due[0][4])
            if job is not None:
                return job
            heapq.heappop(due)
        return None

    # -- consuming -------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], limit: int, *, worker: str, lease: float
    ) -> list[JobRecord]:
        if limit <= 0:
            return []
        now = time.time()
        heaps = [self._move_due(queue, now) for queue in dict.fromkeys(queues)]
        claimed: list[JobRecord] = []
        while len(claimed) < limit:
            best: JobRecord | None = None
            best_heap: list[tuple[int, float, float, int, str]] | None = None
            for due in heaps:
                job = self._head(due)
                if job is not None and (best_heap is None or due[0] < best_heap[0]):
                    best, best_heap = job, due
            if best is None or best_heap is None:
                break
            heapq.heappop(best_heap)
            job = best
            job.state = JobState.RUNNING
            job.worker = worker
            job.lease_until = now + lease
            job.attempt += 1
            job.started_at = now
            claimed.append(_copy(job, errors=list(job.errors)))
        return claimed

    async def wait(self, queues: Sequence[str], seconds: float) -> None:
        """Until an enqueue (or a job pending again), or the next pending job's run_at."""
        now = time.time()
        due = min((self._next_later(queue) for queue in queues), default=math.inf)
        if any(self._head(self._due.get(queue, [])) is not None for queue in queues):
            due = now
        timeout = max(min(seconds, due - now), 0.0)
        if timeout <= 0:
            return
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)
        except TimeoutError:
            pass

    def _held(self, job_id: str, worker: str) -> JobRecord | None:
        job = self._jobs.get(job_id)
        if job is None or job.state is not JobState.RUNNING or job.worker != worker:
            return None
        return job

    async def extend(self, ids: Sequence[str], *, worker: str, lease: float) -> set[str]:
        until = time.time() + lease
        cancelled: set[str] = set()
        for job_id in ids:
            job = self._held(job_id, worker)
            if job is None:
                continue
            job.lease_until = until
            if job.cancel_requested:
                cancelled.add(job_id)
        return cancelled

    async def succeed(self, job_id: str, *, worker: str) -> None:
        job = self._held(job_id, worker)
        if job is not None:
            self._finish(job, JobState.SUCCEEDED)

    async def succeed_many(self, ids: Sequence[str], *, worker: str) -> None:
        for job_id in ids:
            job = self._held(job_id, worker)
            if job is not None:
                self._finish(job, JobState.SUCCEEDED)

    async def retry(self, job_id: str, *, worker: str, run_at: float, error: str) -> None:
        job = self._held(job_id, worker)
        if job is None:
            return
        job.errors.append(error)
        if job.cancel_requested:
            self._finish(job, JobState.CANCELLED)
            return
        job.state = JobState.PENDING
        job.run_at = run_at
        job.worker = job.lease_until = None
        self._push(job, time.time())
        self._wake()

    async def fail(self, job_id: str, *, worker: str, error: str) -> None:
        job = self._held(job_id, worker)
        if job is not None:
            job.errors.append(error)
            self._finish(job, JobState.CANCELLED if job.cancel_requested else JobState.FAILED)

    def _finish(self, job: JobRecord, state: JobState) -> None:
        job.state = state
        job.finished_at = time.time()
        job.worker = job.lease_until = None

    async def release(self, ids: Sequence[str], *, worker: str) -> None:
        now = time.time()
        for job_id in ids:
            job = self._held(job_id, worker)
            if job is None:
                continue
            job.state = JobState.PENDING
            job.attempt = max(job.attempt - 1, 0)
            job.worker = job.lease_until = None
            self._push(job, now)
        self._wake()

    async def rescue(self) -> int:
        now = time.time()
        rescued = 0
        for job in self._jobs.values():
            if job.state is not JobState.RUNNING or (job.lease_until or 0.0) > now:
                continue
            rescued += 1
            job.errors.append(f"lease expired: worker {job.worker} stopped renewing it")
            if job.cancel_requested:
                self._finish(job, JobState.CANCELLED)
            elif job.attempt >= job.max_attempts:
                self._finish(job, JobState.FAILED)
            else:
                job.state = JobState.PENDING
                job.worker = job.lease_until = None
                self._push(job, now)
        if rescued:
            self._wake()
        return rescued

    # -- operating -------------------------------------------------------------------------

    async def cancel(self, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        if job is None or job.state in FINISHED:
            return False
        if job.state is JobState.PENDING:
            self._finish(job, JobState.CANCELLED)
        else:
            job.cancel_requested = True
        return True

    async def requeue(self, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        if job is None or job.state not in (JobState.FAILED, JobState.CANCELLED):
            return False
        job.state = JobState.PENDING
        job.attempt = 0
        job.run_at = time.time()
        job.cancel_requested = False
        job.finished_at = None
        self._push(job, job.run_at)
        self._wake()
        return True

    def make_due(self, queues: Sequence[str] | None, now: float) -> None:
        """Pending jobs of ``queues`` (all: None) waiting for a later run_at run now
        (``JobsTester.drain(due=True)``)."""
        for job in self._jobs.values():
            wanted = queues is None or job.queue in queues
            if job.state is JobState.PENDING and wanted and job.run_at > now:
                job.run_at = now
                self._push(job, now)

    async def get(self, job_id: str) -> JobRecord | None:
        job = self._jobs.get(job_id)
        return None if job is None else _copy(job, errors=list(job.errors))

    async def list(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[JobRecord]:
        found = [
            job
            for job in self._jobs.values()
            if (state is None or job.state is state)
            and (queue is None or job.queue == queue)
            and (name is None or job.name == name)
        ]
        found.sort(key=lambda job: job.enqueued_at, reverse=True)
        return [_copy(job, errors=list(job.errors)) for job in found[: max(limit, 0)]]

    async def counts(self) -> dict[tuple[str, JobState], int]:
        counts: dict[tuple[str, JobState], int] = {}
        for job in self._jobs.values():
            key = (job.queue, job.state)
            counts[key] = counts.get(key, 0) + 1
        return counts

    async def purge(self, *, states: Sequence[JobState], older_than: float) -> int:
        now = time.time()
        doomed = [
            job.id
            for job in self._jobs.values()
            if job.state in states
            and job.state in FINISHED
            and job.finished_at is not None
            and job.finished_at < older_than
            and not _holds_key(job, now)
        ]
        for job_id in doomed:
            job = self._jobs.pop(job_id)
            self._entry.pop(job_id, None)
            if job.unique_key is not None and self._unique.get(job.unique_key) == job_id:
                del self._unique[job.unique_key]
        return len(doomed)

    async def lead(self, name: str, *, holder: str, ttl: float) -> bool:
        now = time.time()
        current = self._leaders.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._leaders[name] = (holder, now + ttl)
        return True


def _holds_key(job: JobRecord, now: float) -> bool:
    """A finished job keeps its unique key until ``unique_until`` (a cron tick's): purge
    leaves it until then, or the key would be free early."""
    return job.unique_key is not None and job.unique_until is not None and job.unique_until > now
