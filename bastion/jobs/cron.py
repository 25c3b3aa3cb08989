"""Cron schedules: which job to enqueue at which ticks, and the scheduler that enqueues them.

Every worker may run ``run_scheduler``; only the holder of the backend's ``"cron"`` lock
enqueues. Each tick's job carries the unique key ``cron:<name>:<tick epoch>``, so a tick fires
once however many schedulers run, even while the lock changes hands.

Ticks are enqueued ahead, to run at their tick: the leader keeps every tick of the next two
leases queued. When it dies, the ticks until its successor takes over (within a lease and a
third) are already in the backend, so none is lost, and their unique keys stop the successor
from doubling them.

Missed ticks (catch-up policy): a tick nobody could enqueue in time (every scheduler was down,
or the backend unreachable for longer than two leases) is missed. When a scheduler takes the
lead it fires, per schedule, at most the last missed tick, and only if it is at most
``catch_up`` seconds old (60 by default); older and earlier missed ticks are skipped.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import math
import time
import zoneinfo
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol, TypeVar

from croniter import (  # type: ignore[import-untyped]
    CroniterBadDateError,
    CroniterError,
    croniter,
)

from bastion._tasks import cancel_and_wait
from bastion.exceptions import ConfigurationError
from bastion.jobs.backend import JobsBackend
from bastion.jobs.record import JobRecord

__all__ = ["LOCK", "Clock", "Cron", "check_names", "run_scheduler"]

logger = logging.getLogger("bastion.jobs.cron")

#: The name of the backend lock whose holder runs the schedules.
LOCK = "cron"
#: How long a tick's unique key outlives its catch-up window: room for clocks that disagree.
_SLACK = 60.0
_FORMS = (
    "write 5 fields (minute hour day month weekday, e.g. '*/5 * * * *'), 6 with seconds first "
    "(e.g. '*/10 * * * * *'), or an alias such as '@hourly' or '@daily'"
)

T = TypeVar("T")


def _zone(tz: str | tzinfo | None, where: str) -> tzinfo:
    if tz is None:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
        names = {name.lower(): name for name in zoneinfo.available_timezones()}
        close = difflib.get_close_matches(tz.strip().lower(), names, n=1)
        hint = f"did you mean {names[close[0]]!r}? " if close else ""
        raise ConfigurationError(
            f"{where}: unknown time zone {tz!r}; {hint}use an IANA name such as 'Europe/Paris' "
            "or 'UTC' (zoneinfo.available_timezones() lists them)"
        )
    raise ConfigurationError(f"{where}: tz must be an IANA time zone name, not {tz!r}")


class Cron:
    """One schedule: enqueue job ``job`` at each tick of ``expression``, read in ``tz``.

    ``expression`` has 5 fields (minute hour day month weekday), 6 with seconds first as in
    Spring and Quartz (``"*/10 * * * * *"``), or is an alias (``@hourly``, ``@daily``,
    ``@weekly``, ``@monthly``, ``@yearly``).
    ``tz`` is an IANA name (UTC when omitted). ``name`` identifies the schedule in unique keys
    and logs (the job's name by default: name two schedules of one job apart). The rest are
    the enqueued job's options; ``args`` is its msgspec-JSON keyword arguments.
    """

    __slots__ = (
        "args",
        "catch_up",
        "expression",
        "job",
        "max_attempts",
        "name",
        "priority",
        "queue",
        "tags",
        "timeout",
        "tz",
    )

    def __init__(
        self,
        job: str,
        expression: str,
        *,
        tz: str | tzinfo | None = None,
        name: str | None = None,
        queue: str = "default",
        args: bytes = b"{}",
        priority: int = 0,
        max_attempts: int = 5,
        timeout: float | None = None,
        tags: Sequence[str] = (),
        catch_up: float = 60.0,
    ) -> None:
        self.job = job
        self.name = name or job
        where = f"cron schedule {self.name!r}"
        if not isinstance(expression, str) or not expression.strip():
            raise ConfigurationError(f"{where}: the cron expression is empty; {_FORMS}")
        self.expression = " ".join(expression.split())
        self.tz = _zone(tz, where)
        if not catch_up >= 0:
            raise ConfigurationError(f"{where}: catch_up must be 0 or more seconds")
        self.catch_up = float(catch_up)
        self.queue, self.args, self.priority = queue, args, priority
        self.max_attempts, self.timeout, self.tags = max_attempts, timeout, tuple(tags)
        try:
            first = self._at(time.time()).get_next(float)
        except CroniterBadDateError:
            first = math.inf
        except (CroniterError, ValueError, TypeError, KeyError) as exc:
            reason = "H, a hashed value, is not supported" if "ashed" in str(exc) else exc
            raise ConfigurationError(
                f"{where}: {expression!r} is not a cron expression ({reason}); {_FORMS}"
            ) from None
        if first == math.inf:
            raise ConfigurationError(
                f"{where}: {expression!r} never matches a date from now on (a day its month "
                "does not have, or a year gone by); fix its day, month or year field"
            )

    def __repr__(self) -> str:
        return f"Cron({self.job!r}, {self.expression!r}, tz={str(self.tz)!r}, name={self.name!r})"

    def _at(self, moment: float) -> croniter:
        # croniter must start from an aware datetime to step through DST changes correctly,
        # and from a whole second: it rounds sub-seconds its own way.
        start = datetime.fromtimestamp(math.floor(moment), self.tz)
        return croniter(self.expression, start, second_at_beginning=True)

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment`` (epoch seconds); ``inf`` if none is left."""
        try:
            return float(self._at(moment).get_next(float))
        except CroniterBadDateError:
            return math.inf

    def last_at_or_before(self, moment: float) -> float | None:
        """The latest tick at or before ``moment``, or None."""
        try:
            return float(self._at(math.floor(moment) + 1).get_prev(float))
        except CroniterBadDateError:
            return None

    def ticks(self, after: float, until: float) -> list[float]:
        """The ticks in (``after``, ``until``], in order."""
        found: list[float] = []
        steps = self._at(after)
        try:
            while (tick := float(steps.get_next(float))) <= until:
                if tick > after:
                    found.append(tick)
        except CroniterBadDateError:
            pass
        return found

    def record(self, tick: float) -> JobRecord:
        """The job of ``tick``: runs at the tick, once per tick across every scheduler."""
        return JobRecord(
            name=self.job,
            queue=self.queue,
            args=self.args,
            priority=self.priority,
            max_attempts=self.max_attempts,
            timeout=self.timeout,
            tags=self.tags,
            run_at=tick,
            unique_key=f"cron:{self.name}:{int(tick)}",
            unique_until=tick + self.catch_up + _SLACK,
        )


class Clock(Protocol):
    """Where the scheduler reads the time and waits; tests pass a fake one."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class _SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Stopped(Exception):
    pass


def check_names(entries: Sequence[Cron]) -> None:
    """Refuse two schedules of one name: their ticks would share unique keys (JobsPlugin
    calls it at start-up, so a worker never runs without its cron)."""
    names: dict[str, Cron] = {}
    for entry in entries:
        if entry.name in names:
            raise ConfigurationError(
                f"two cron schedules are named {entry.name!r} ({names[entry.name].expression!r}"
                f" and {entry.expression!r}); give one of them a name=... of its own"
            )
        names[entry.name] = entry


async def run_scheduler(
    entries: Sequence[Cron],
    backend: JobsBackend,
    *,
    holder: str,
    stop: asyncio.Event,
    lease: float = 15.0,
    clock: Clock | None = None,
) -> None:
    """Enqueue the ticks of ``entries`` while ``holder`` holds the backend's "cron" lock,
    until ``stop`` is set. Renews the lock every ``lease``/3 seconds; a process without it
    asks as often, so it takes over within a lease of the leader dying. Backend errors are
    logged and retried (with backoff), never raised."""
    if not lease > 0:
        raise ConfigurationError(f"the cron scheduler's lease must be positive, not {lease!r}")
    check_names(entries)
    if entries:
        await _Scheduler(entries, backend, holder, stop, lease, clock or _SystemClock()).run()


class _Scheduler:
    def __init__(
        self,
        entries: Sequence[Cron],
        backend: JobsBackend,
        holder: str,
        stop: asyncio.Event,
        lease: float,
        clock: Clock,
    ) -> None:
        self.entries, self.backend, self.holder = tuple(entries), backend, holder
        self.stop, self.lease, self.clock = stop, lease, clock
        # Every tick at or before an entry's cursor is handled (queued, or missed for good);
        # None until this process leads.
        self.cursors: dict[str, float | None] = {entry.name: None for entry in entries}
        self.leading = False
        self.failures = 0

    async def run(self) -> None:
        stopped: asyncio.Future[Any] = asyncio.ensure_future(self.stop.wait())
        try:
            while not self.stop.is_set():
                delay = await self._turn(stopped)
                sleeper: asyncio.Future[Any] = asyncio.ensure_future(self.clock.sleep(delay))
                await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
        except _Stopped:
            pass
        finally:
            stopped.cancel()

    async def _turn(self, stopped: asyncio.Future[Any]) -> float:
        """Take or renew the lead and queue what is due; return how long to wait."""
        try:
            leading = await self._call(
                self.backend.lead(LOCK, holder=self.holder, ttl=self.lease), stopped
            )
        except _Stopped:
            raise
        except Exception as exc:
            return self._failed("could not take or renew the cron lead", exc)
        if leading != self.leading:
            logger.info(
                "%s %s the cron lead (%d schedules)",
                self.holder,
                "took" if leading else "lost",
                len(self.entries),
            )
            self.leading = leading
        if not leading:
            self.cursors = dict.fromkeys(self.cursors)
            self.failures = 0
            return self.lease / 3
        records, cursors = self._due(self.clock.now())
        if records:
            try:
                await self._call(self.backend.enqueue(records), stopped)
            except _Stopped:
                raise
            except Exception as exc:
                return self._failed(f"could not enqueue {len(records)} cron jobs", exc)
        self.cursors.update(cursors)
        self.failures = 0
        return self.lease / 3

    def _due(self, now: float) -> tuple[list[JobRecord], dict[str, float]]:
        """The jobs to enqueue now: per entry, its last missed tick (if recent) and every tick
        of the next two leases not queued yet."""
        until = now + 2 * self.lease
        records: list[JobRecord] = []
        for entry in self.entries:
            cursor = self.cursors[entry.name]
            if cursor is not None and cursor > until:
                cursor = None  # the clock went back: start over rather than wait for it
            last = entry.last_at_or_before(now)
            if (
                last is not None
                and (cursor is None or last > cursor)
                and now - last <= entry.catch_up
            ):
                records.append(entry.record(last))
            after = now if cursor is None or cursor < now else cursor
            records.extend(entry.record(tick) for tick in entry.ticks(after, until))
        return records, dict.fromkeys(self.cursors, until)

    async def _call(self, call: Awaitable[T], stopped: asyncio.Future[Any]) -> T:
        """Await a backend call, abandoning it when stopped or after a third of a lease (the
        lease is lost by then anyway)."""
        task = asyncio.ensure_future(call)
        waiting: set[asyncio.Future[Any]] = {task, stopped}
        done, _ = await asyncio.wait(
            waiting, timeout=self.lease / 3, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            return task.result()
        await cancel_and_wait([task])
        if self.stop.is_set():
            raise _Stopped
        raise TimeoutError(f"the backend did not answer within {self.lease / 3:.1f}s")

    def _failed(self, what: str, exc: Exception) -> float:
        self.failures += 1
        self.leading = False  # unsure: take the lead again, as a newcomer would
        self.cursors = dict.fromkeys(self.cursors)
        delay = min(self.lease / 3, 0.25 * 2.0 ** min(self.failures, 8))
        logger.warning("%s: %s: %s; retrying in %.1fs", what, type(exc).__name__, exc, delay)
        return delay
