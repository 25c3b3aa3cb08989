"""The database backend's SQL: every statement built once, at import, from ``_db_schema``.

Parameters are bound by name (``b_*`` where a column of that name is being set); states are
written as SQL text, so the partial indexes' predicates match the queries that use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)

from bastion.jobs._db_listen import CHANNEL
from bastion.jobs._db_schema import jobs
from bastion.jobs.record import FINISHED, JobRecord, JobState

encode = msgspec.json.encode
decode = msgspec.json.decode
_c = jobs.c
c = _c


def state_sql(state: JobState) -> Any:
    """A state as SQL text, not a parameter: the partial indexes' predicates must match."""
    return literal_column(f"'{state.value}'")


def states_sql(states: Sequence[JobState]) -> Any:
    return _c.state.in_([state_sql(s) for s in states])


_PENDING, _RUNNING = state_sql(JobState.PENDING), state_sql(JobState.RUNNING)
IS_PENDING, _IS_RUNNING = _c.state == _PENDING, _c.state == _RUNNING
_IS_FINISHED = states_sql(sorted(FINISHED))
_NOW: Any = bindparam("now")
#: A finishing job keeps its unique key until ``unique_until``, or gives it up now.
_KEY_AFTER_FINISH = case((_c.unique_until > _NOW, _c.unique_holder), else_=null())


def _appended(item: Any) -> Any:
    """``errors`` (a JSON list as text) with one more item (``item``: JSON text SQL)."""
    return case(
        (_c.errors == "[]", literal("[") + item + literal("]")),
        else_=func.substr(_c.errors, 1, func.length(_c.errors) - 1) + literal(",") + item + "]",
    )


_ERROR = _appended(bindparam("b_error"))  # b_error: the error already encoded as JSON
_HELD = and_(_c.id == bindparam("b_id"), _c.worker == bindparam("b_worker"), _IS_RUNNING)
_CANCELLING = _c.cancel_requested == true()

CLAIM = (
    update(jobs)
    .where(
        _c.id.in_(
            select(_c.id)
            .where(IS_PENDING, _c.queue.in_(bindparam("queues", expanding=True)), _c.run_at <= _NOW)
            .order_by(_c.priority, _c.run_at)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
        )
    )
    .values(
        state=_RUNNING,
        worker=bindparam("b_worker"),
        lease_until=bindparam("b_until"),
        started_at=_NOW,
        attempt=_c.attempt + 1,
    )
    .returning(*jobs.c)
)
EXTEND = (
    update(jobs)
    .where(
        _c.id.in_(bindparam("ids", expanding=True)),
        _c.worker == bindparam("b_worker"),
        _IS_RUNNING,
    )
    .values(lease_until=bindparam("b_until"))
    .returning(_c.id, _c.cancel_requested)
)
SUCCEED = (
    update(jobs)
    .where(_HELD)
    .values(
        state=state_sql(JobState.SUCCEEDED),
        finished_at=_NOW,
        worker=null(),
        lease_until=null(),
        unique_holder=_KEY_AFTER_FINISH,
    )
)
RETRY = (
    update(jobs)
    .where(_HELD)
    .values(
        state=case((_CANCELLING, state_sql(JobState.CANCELLED)), else_=_PENDING),
        run_at=case((_CANCELLING, _c.run_at), else_=bindparam("b_run_at")),
        finished_at=case((_CANCELLING, _NOW), else_=null()),
        unique_holder=case((_CANCELLING, _KEY_AFTER_FINISH), else_=_c.unique_holder),
        errors=_ERROR,
        worker=null(),
        lease_until=null(),
    )
    .returning(_c.queue, _c.state, _c.run_at)
)
FAIL = (
    update(jobs)
    .where(_HELD)
    .values(
        state=case((_CANCELLING, state_sql(JobState.CANCELLED)), else_=state_sql(JobState.FAILED)),
        finished_at=_NOW,
        unique_holder=_KEY_AFTER_FINISH,
        errors=_ERROR,
        worker=null(),
        lease_until=null(),
    )
)
RELEASE = (
    update(jobs)
    .where(
        _c.id.in_(bindparam("ids", expanding=True)),
        _c.worker == bindparam("b_worker"),
        _IS_RUNNING,
    )
    .values(
        state=case((_CANCELLING, state_sql(JobState.CANCELLED)), else_=_PENDING),
        finished_at=case((_CANCELLING, _NOW), else_=null()),
        unique_holder=case((_CANCELLING, _KEY_AFTER_FINISH), else_=_c.unique_holder),
        attempt=case((_c.attempt > 0, _c.attempt - 1), else_=0),
        worker=null(),
        lease_until=null(),
    )
    .returning(_c.queue, _c.state, _c.run_at)
)
_LOST = (
    literal('"lease expired: worker ')
    + func.replace(func.replace(func.coalesce(_c.worker, "?"), "\\", "\\\\"), '"', '\\"')
    + literal(' stopped renewing it"')
)
_OUT_OF_ATTEMPTS = _c.attempt >= _c.max_attempts
RESCUE = (
    update(jobs)
    .where(_IS_RUNNING, _c.lease_until < _NOW)
    .values(
        state=case(
            (_CANCELLING, state_sql(JobState.CANCELLED)),
            (_OUT_OF_ATTEMPTS, state_sql(JobState.FAILED)),
            else_=_PENDING,
        ),
        finished_at=case((or_(_CANCELLING, _OUT_OF_ATTEMPTS), _NOW), else_=null()),
        unique_holder=case(
            (or_(_CANCELLING, _OUT_OF_ATTEMPTS), _KEY_AFTER_FINISH), else_=_c.unique_holder
        ),
        errors=_appended(_LOST),
        worker=null(),
        lease_until=null(),
    )
    .returning(_c.queue, _c.state, _c.run_at)
)
CANCEL = (
    update(jobs)
    .where(_c.id == bindparam("b_id"), states_sql([JobState.PENDING, JobState.RUNNING]))
    .values(
        state=case((IS_PENDING, state_sql(JobState.CANCELLED)), else_=_c.state),
        cancel_requested=case((_IS_RUNNING, true()), else_=_c.cancel_requested),
        finished_at=case((IS_PENDING, _NOW), else_=_c.finished_at),
        unique_holder=case((IS_PENDING, _KEY_AFTER_FINISH), else_=_c.unique_holder),
    )
    .returning(_c.id)
)
_other = jobs.alias("other")
FREE_EXPIRED_KEY = (  # finished jobs whose window ended give up a key wanted again
    update(jobs)
    .where(
        _c.unique_holder == bindparam("key"),
        _IS_FINISHED,
        or_(_c.unique_until.is_(None), _c.unique_until <= _NOW),
        _c.id != bindparam("b_id"),
    )
    .values(unique_holder=null())
)
REQUEUE = (
    update(jobs)
    .where(_c.id == bindparam("b_id"), states_sql([JobState.FAILED, JobState.CANCELLED]))
    .values(
        state=_PENDING,
        attempt=0,
        run_at=_NOW,
        cancel_requested=false(),
        finished_at=null(),
        worker=null(),
        lease_until=null(),
        # it takes its key back unless another job holds it now
        unique_holder=case(
            (
                exists().where(_other.c.unique_holder == _c.unique_key, _other.c.id != _c.id),
                null(),
            ),
            else_=_c.unique_key,
        ),
    )
    .returning(_c.queue)
)
HOLDER = select(_c.id).where(_c.unique_holder == bindparam("key"))
KEY_OF = select(_c.unique_key).where(_c.id == bindparam("b_id"))
GET = select(jobs).where(_c.id == bindparam("b_id"))
COUNTS = select(_c.queue, _c.state, func.count()).group_by(_c.queue, _c.state)
NOTIFY = select(func.pg_notify(CHANNEL, bindparam("payload")))
INSERT_VALUES = {column.name: bindparam(f"v_{column.name}", type_=column.type) for column in jobs.c}


def to_row(record: JobRecord) -> dict[str, Any]:
    """The columns of a job being enqueued (stored as pending, holding its key)."""
    return {
        "id": record.id,
        "name": record.name,
        "queue": record.queue,
        "args": record.args,
        "priority": record.priority,
        "run_at": record.run_at,
        "attempt": record.attempt,
        "max_attempts": record.max_attempts,
        "timeout": record.timeout,
        "unique_key": record.unique_key,
        "unique_until": record.unique_until,
        "unique_holder": record.unique_key,
        "tags": encode(list(record.tags)).decode(),
        "state": JobState.PENDING.value,
        "errors": encode(record.errors).decode(),
        "enqueued_at": record.enqueued_at,
        "started_at": record.started_at,
        "finished_at": None,
        "worker": None,
        "lease_until": None,
        "cancel_requested": False,
        "trace": None if record.trace is None else encode(record.trace).decode(),
    }


def to_record(row: Any) -> JobRecord:
    return JobRecord(
        id=row.id,
        name=row.name,
        queue=row.queue,
        args=bytes(row.args),
        priority=row.priority,
        run_at=row.run_at,
        attempt=row.attempt,
        max_attempts=row.max_attempts,
        timeout=row.timeout,
        unique_key=row.unique_key,
        unique_until=row.unique_until,
        tags=tuple(decode(row.tags)),
        state=JobState(row.state),
        errors=decode(row.errors),
        enqueued_at=row.enqueued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        worker=row.worker,
        lease_until=row.lease_until,
        cancel_requested=bool(row.cancel_requested),
        trace=None if row.trace is None else decode(row.trace),
    )
