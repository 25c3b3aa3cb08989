"""The in-memory jobs backend: one process, nothing installed (tests, the embedded default).

Jobs live in a dict and die with the process, so it is for tests and for apps that accept
losing pending jobs on restart. Every method runs without awaiting in between, so on one event
loop each is atomic, which is all claiming needs. Records are copied in and out: a caller
holding a returned record cannot change what is stored.
"""

from __future__ import annotations

import asyncio
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

    # -- consuming -------------------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], limit: int, *, worker: str, lease: float
    ) -> list[JobRecord]:
        if limit <= 0:
            return []
        now = time.time()
        wanted = set(queues)
        ready = [
            job
            for job in self._jobs.values()
            if job.state is JobState.PENDING and job.queue in wanted and job.run_at <= now
        ]
        ready.sort(key=lambda job: (job.priority, job.run_at, job.enqueued_at))
        claimed: list[JobRecord] = []
        for job in ready[:limit]:
            job.state = JobState.RUNNING
            job.worker = worker
            job.lease_until = now + lease
            job.attempt += 1
            job.started_at = now
            claimed.append(_copy(job, errors=list(job.errors)))
        return claimed

    async def wait(self, queues: Sequence[str], seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=max(seconds, 0.0))
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
        for job_id in ids:
            job = self._held(job_id, worker)
            if job is None:
                continue
            job.state = JobState.PENDING
            job.attempt = max(job.attempt - 1, 0)
            job.worker = job.lease_until = None
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
        self._wake()
        return True

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
        doomed = [
            job.id
            for job in self._jobs.values()
            if job.state in states
            and job.state in FINISHED
            and job.finished_at is not None
            and job.finished_at < older_than
        ]
        for job_id in doomed:
            job = self._jobs.pop(job_id)
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
