"""Who is waiting for which queues, and PostgreSQL's LISTEN connection that wakes them.

``enqueue`` sends ``NOTIFY bastion_jobs, '<queue> <run_at>'`` in its transaction, so
PostgreSQL delivers it when (and only if) the transaction commits. Each process that waits
for jobs holds one connection of its own that LISTENs and sets the waiters' events: a worker
waiting in ``wait()`` starts a job a few milliseconds after another process commits it. When
the connection drops it is opened again (with a growing pause); meanwhile waiters poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from bastion._tasks import cancel_and_wait

logger = logging.getLogger("bastion.jobs")

CHANNEL = "bastion_jobs"


def payload(queue: str, run_at: float) -> str:
    return f"{queue} {run_at!r}"


def parse(text: str) -> tuple[str, float]:
    """A notification's queue and run_at (a payload not ours wakes everyone, now)."""
    queue, _, when = text.rpartition(" ")
    try:
        return queue, float(when)
    except ValueError:
        return "", 0.0


class Waiter:
    """One ``wait()`` call: its queues, an event, the earliest run_at it was told of, and
    whether to look at the table again (notifications may have been missed)."""

    __slots__ = ("due", "event", "queues", "recheck")

    def __init__(self, queues: frozenset[str]) -> None:
        self.queues = queues
        self.event = asyncio.Event()
        self.due = math.inf
        self.recheck = False


class Waiters:
    """The process's waiting workers; ``wake`` tells those waiting for a queue."""

    def __init__(self) -> None:
        self._waiting: set[Waiter] = set()

    def add(self, queues: frozenset[str]) -> Waiter:
        waiter = Waiter(queues)
        self._waiting.add(waiter)
        return waiter

    def discard(self, waiter: Waiter) -> None:
        self._waiting.discard(waiter)

    def wake(self, queue: str, run_at: float) -> None:
        """A job of ``queue`` is due at ``run_at`` (an empty queue name: of any queue)."""
        for waiter in self._waiting:
            if queue in waiter.queues or not queue:
                waiter.due = min(waiter.due, run_at)
                waiter.event.set()

    def recheck(self) -> None:
        """Anything may have changed unannounced: every waiter looks at the table again."""
        for waiter in self._waiting:
            waiter.recheck = True
            waiter.event.set()


class Listener:
    """The LISTEN connection, kept open by a task; ``connected`` says whether to poll."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        waiters: Waiters,
        *,
        ping: float = 10.0,
    ) -> None:
        self._connect = connect
        self._waiters = waiters
        self._ping = ping
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])
        self.connected = False

    def _notified(self, _connection: Any, _pid: int, _channel: str, text: str) -> None:
        queue, run_at = parse(text)
        self._waiters.wake(queue, run_at)

    async def _run(self) -> None:
        pause = 0.1
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    logger.warning("jobs: lost the LISTEN connection (%s); reconnecting", exc)
                    pause = 0.1
            if self.connected:
                self.connected = False
                self._waiters.recheck()  # waiters go back to polling
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _listen(self) -> None:
        connection = await self._connect()
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(CHANNEL, self._notified)
            self.connected = True
            self._waiters.recheck()  # what was sent while not listening: look again
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._ping)
                if not lost.is_set():  # a half-open connection answers no ping
                    await asyncio.wait_for(connection.execute("SELECT 1"), self._ping)
            raise ConnectionError("the LISTEN connection was closed")
        finally:
            if not connection.is_closed():
                try:
                    await asyncio.wait_for(connection.close(), 2)
                except Exception:  # a dead server answers no goodbye
                    connection.terminate()
