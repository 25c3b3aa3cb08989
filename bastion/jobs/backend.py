"""The contract every jobs backend implements: memory, database (SQLite, PostgreSQL), Redis.

A backend only stores and hands out ``JobRecord``s; the worker (``worker.py``) decides what
to run, retries and timeouts. Every method is safe to call from many processes at once on a
shared backend: claiming is atomic (``FOR UPDATE SKIP LOCKED``, a Lua script, a lock), so a
job is handed to one worker at a time, and a lease that runs out makes it claimable again.
The same behaviour suite (tests/jobs/) runs against every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from bastion.jobs.record import JobRecord, JobState


@runtime_checkable
class JobsBackend(Protocol):
    """Where jobs wait, run and are remembered."""

    #: True when ``enqueue(..., session=db)`` writes inside ``db``'s transaction (database
    #: backends); otherwise the caller defers the enqueue to the session's ``on_commit``.
    transactional: bool

    async def start(self) -> None:
        """Connect (idempotent)."""

    async def stop(self) -> None:
        """Disconnect; pending work stays stored."""

    async def enqueue(self, records: Sequence[JobRecord], *, session: Any = None) -> list[str]:
        """Store ``records`` and wake waiting workers; return their ids in order. A record
        whose ``unique_key`` is held by a pending or running job (or one finished before its
        ``unique_until``) is not stored: the holder's id is returned in its place. With
        ``session`` (transactional backends only) the rows are written in that session's
        transaction and become visible when it commits."""

    async def claim(
        self, queues: Sequence[str], limit: int, *, worker: str, lease: float
    ) -> list[JobRecord]:
        """Atomically take up to ``limit`` pending jobs of ``queues`` whose ``run_at`` has
        come (lowest priority, then oldest run_at first), mark them running for ``worker``
        until now + ``lease`` seconds, count the attempt, and return them."""

    async def wait(self, queues: Sequence[str], seconds: float) -> None:
        """Return when a job may have become available in ``queues`` (a notification), or
        after ``seconds``; a spurious return is fine."""

    async def extend(self, ids: Sequence[str], *, worker: str, lease: float) -> set[str]:
        """Renew the leases ``worker`` holds; return the ids whose cancellation was asked."""

    async def succeed(self, job_id: str, *, worker: str) -> None:
        """Mark a job ``worker`` ran as succeeded (ignored if the lease was lost)."""

    async def succeed_many(self, ids: Sequence[str], *, worker: str) -> None:
        """``succeed`` for several jobs, in one round trip where the store allows: a worker
        records together the jobs that finished while it was recording others."""

    async def retry(self, job_id: str, *, worker: str, run_at: float, error: str) -> None:
        """Put a failed attempt back as pending until ``run_at``, recording ``error``."""

    async def fail(self, job_id: str, *, worker: str, error: str) -> None:
        """Keep a job as failed for good, recording ``error``. A job whose cancellation was
        asked ends ``cancelled`` instead (by ``fail`` or ``retry``): it is not run again."""

    async def release(self, ids: Sequence[str], *, worker: str) -> None:
        """Hand running jobs back as pending without counting their attempt (shutdown)."""

    async def rescue(self) -> int:
        """Make jobs whose lease has run out pending again (failed when no attempt is left);
        return how many. Workers call it now and then; any process may."""

    async def cancel(self, job_id: str) -> bool:
        """Cancel a pending job, or ask its worker to cancel a running one; False when the
        job is finished or unknown."""

    async def requeue(self, job_id: str) -> bool:
        """Run a failed or cancelled job again (attempts start over); False otherwise."""

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def list(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[JobRecord]:
        """Jobs, newest enqueued first."""

    async def counts(self) -> dict[tuple[str, JobState], int]:
        """How many jobs each (queue, state) holds: queue depth for metrics and the CLI."""

    async def purge(self, *, states: Sequence[JobState], older_than: float) -> int:
        """Delete finished jobs in ``states`` that finished before ``older_than`` (epoch)."""

    async def lead(self, name: str, *, holder: str, ttl: float) -> bool:
        """Take or renew the lock ``name`` for ``holder`` for ``ttl`` seconds; True while
        ``holder`` has it. The cron scheduler runs only in the holder of "cron"."""
