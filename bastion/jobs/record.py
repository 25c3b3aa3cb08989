"""What a backend stores for one job: ``JobRecord``, and the states it moves through.

    scheduled ──(run_at reached)──▶ available ──claim──▶ running ──▶ succeeded
        ▲                               ▲                   │
        └──────── retry (backoff) ──────┴───────────────────┤──▶ failed (attempts used up)
                                                            └──▶ cancelled

``scheduled`` and ``available`` differ only by ``run_at``: backends may store both as
"pending" and compare ``run_at`` with the clock when claiming. A running job whose lease ends
(its worker died) is claimed again by another worker: delivery is at least once.
"""

from __future__ import annotations

import enum
import time
import uuid

import msgspec


class JobState(enum.StrEnum):
    PENDING = "pending"  # waiting for run_at, or available now
    RUNNING = "running"  # claimed by a worker, under a lease
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts used up (or failed for good): kept for inspection and retry
    CANCELLED = "cancelled"


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


def new_id() -> str:
    """A job id: 32 hex digits, sortable enough to read in a table, unique across machines."""
    return uuid.uuid4().hex


class JobRecord(msgspec.Struct, kw_only=True):
    """One job as stored. ``args`` is the msgspec-JSON of the job's keyword arguments, encoded
    (and validated) when it was enqueued; the worker decodes it against the job's signature."""

    id: str = msgspec.field(default_factory=new_id)
    name: str  # the registered job's name, e.g. "app.jobs.send_digest"
    queue: str = "default"
    args: bytes = b"{}"
    priority: int = 0  # lower runs first (0 is the default and the most urgent usual value)
    run_at: float = msgspec.field(default_factory=time.time)  # epoch seconds
    attempt: int = 0  # attempts started so far
    max_attempts: int = 5
    timeout: float | None = None  # seconds one attempt may run
    unique_key: str | None = None  # at most one job per key while pending/running (or window)
    unique_until: float | None = None  # and, when set, until this time even once finished
    tags: tuple[str, ...] = ()
    state: JobState = JobState.PENDING
    errors: list[str] = msgspec.field(default_factory=list)  # one line per failed attempt
    enqueued_at: float = msgspec.field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    worker: str | None = None  # the id of the worker holding the lease
    lease_until: float | None = None
    cancel_requested: bool = False  # asked to cancel while running
    trace: dict[str, str] | None = None  # W3C trace context of the code that enqueued it
