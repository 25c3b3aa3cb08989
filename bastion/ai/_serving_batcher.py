"""The micro-batcher: a bounded queue of waiting inputs and one task that hands batches to
free worker slots.

A batch leaves when it holds ``max_batch`` inputs or ``max_wait`` seconds after its oldest
input arrived, whichever comes first, and only when a slot is free: while every slot is busy
the queue fills, so batches grow exactly when the load does, and an idle server adds at most
``max_wait`` to a request."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from bastion.ai._serving_workers import FAILED, Failure, Slot, new_process_slot
from bastion.exceptions import HTTPError, InternalServerError, ServiceUnavailable

logger = logging.getLogger("bastion.ai")


class ModelBusy(ServiceUnavailable):
    """503: the model's queue is full, or the model is not serving (not started, shutting
    down); ``Retry-After`` says when to come back."""


class ModelFailed(InternalServerError):
    """500: the model raised on this request's input; the traceback is in the server log."""


@dataclass
class ModelStats:
    """What the batcher has done since start-up; ``batch_sizes`` counts batches by size."""

    batches: int = 0
    items: int = 0
    failures: int = 0
    timeouts: int = 0
    rejected: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)

    @property
    def largest_batch(self) -> int:
        return max(self.batch_sizes, default=0)


class _Waiting:
    __slots__ = ("arrived", "future", "item")

    def __init__(self, item: Any, future: asyncio.Future[Any], arrived: float) -> None:
        self.item, self.future, self.arrived = item, future, arrived


class Batcher:
    """Queue and batch loop for one served model; started and stopped by its lifespan."""

    def __init__(
        self,
        name: str,
        slots: Sequence[Slot],
        run: Callable[..., Any],
        *,
        max_batch: int,
        max_wait: float,
        max_queue: int,
        isolate: bool,
        reload: Callable[[Slot], Any],
    ) -> None:
        self.name = name
        self.run, self.reload = run, reload
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.isolate = isolate
        self.queue: deque[_Waiting] = deque()
        self.wake = asyncio.Event()
        self.slots = list(slots)
        self.free: asyncio.Queue[Slot] = asyncio.Queue()
        for slot in slots:
            self.free.put_nowait(slot)
        self.workers = len(slots)
        self.stats = ModelStats()
        self.running: set[asyncio.Task[None]] = set()
        self.closed = False
        self.batch_seconds = 0.0  # moving average, for Retry-After
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(self._serve(), name=f"bastion model {name}")

    # -- the request's side ---------------------------------------------------------------------
    def submit(self, item: Any) -> asyncio.Future[Any]:
        if self.closed:
            raise ModelBusy(
                f"The model {self.name!r} is shutting down", headers={"retry-after": "1"}
            )
        if len(self.queue) >= self.max_queue:
            self.stats.rejected += 1
            raise ModelBusy(
                f"The model {self.name!r} has {len(self.queue)} requests waiting; retry later",
                headers={"retry-after": str(self.retry_after())},
            )
        future: asyncio.Future[Any] = self.loop.create_future()
        self.queue.append(_Waiting(item, future, self.loop.time()))
        if len(self.queue) == 1 or len(self.queue) >= self.max_batch:
            self.wake.set()
        return future

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained, from the recent batch time."""
        batches = math.ceil(len(self.queue) / self.max_batch / max(1, self.workers))
        return max(1, min(60, math.ceil(batches * self.batch_seconds)))

    # -- the batcher's side ---------------------------------------------------------------------
    async def _serve(self) -> None:
        while True:
            slot = await self.free.get()
            try:
                batch = await self._gather()
            except BaseException:
                self.free.put_nowait(slot)
                raise
            self._spawn(self._run(slot, batch))

    async def _gather(self) -> list[_Waiting]:
        while True:
            while not self.queue:
                self.wake.clear()
                await self.wake.wait()
            remaining = self.queue[0].arrived + self.max_wait - self.loop.time()
            if len(self.queue) < self.max_batch and remaining > 0:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), remaining)
                except TimeoutError:
                    pass
            batch: list[_Waiting] = []
            while self.queue and len(batch) < self.max_batch:
                waiting = self.queue.popleft()
                if not waiting.future.done():  # not timed out nor disconnected meanwhile
                    batch.append(waiting)
            if batch:
                return batch

    def _spawn(self, work: Any) -> None:
        task = self.loop.create_task(work)
        self.running.add(task)  # held, so it is not collected, and awaited by close()
        task.add_done_callback(self.running.discard)

    async def _run(self, slot: Slot, batch: list[_Waiting]) -> None:
        started = self.loop.time()
        reusable = True
        try:
            answers = await self.run(slot, [w.item for w in batch], self.isolate)
        except BrokenProcessPool:
            logger.error(
                "model %r: its worker process died during a batch of %d; starting another",
                self.name,
                len(batch),
            )
            answers = [Failure(500, FAILED)] * len(batch)
            reusable = False
            self._spawn(self._replace(slot))
        except Exception:
            logger.exception("model %r: a batch of %d could not be run", self.name, len(batch))
            answers = [Failure(500, FAILED)] * len(batch)
        except BaseException:  # cancelled: nobody will answer these requests otherwise
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(ModelBusy(f"The model {self.name!r} stopped"))
            raise
        finally:
            if reusable:
                self.free.put_nowait(slot)
        elapsed = self.loop.time() - started
        self.batch_seconds = (
            elapsed if not self.stats.batches else (0.8 * self.batch_seconds + 0.2 * elapsed)
        )
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.batch_sizes[len(batch)] += 1
        logged = False
        for waiting, answer in zip(batch, answers, strict=True):
            if waiting.future.done():
                continue
            if isinstance(answer, Failure):
                self.stats.failures += 1
                if answer.log and not logged:
                    logger.error(
                        "model %r: predict failed (batch of %d):\n%s",
                        self.name,
                        len(batch),
                        answer.log,
                    )
                    logged = True
                error: HTTPError = (
                    ModelFailed(answer.detail)
                    if answer.status == 500
                    else HTTPError(answer.detail, status_code=answer.status)
                )
                waiting.future.set_exception(error)
            else:
                waiting.future.set_result(answer)

    async def _replace(self, dead: Slot) -> None:
        dead.executor.shutdown(wait=False, cancel_futures=True)
        self.slots.remove(dead)
        slot = new_process_slot()
        self.slots.append(slot)
        try:
            await self.reload(slot)
        except Exception:
            logger.exception("model %r: a replacement worker failed to load the model", self.name)
            self.workers -= 1
            self.slots.remove(slot)
            slot.executor.shutdown(wait=False)
            return
        self.free.put_nowait(slot)

    async def close(self) -> None:
        """Stop taking requests, let running batches finish, answer the queued ones 503."""
        self.closed = True
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        while self.running:  # batches, and a worker being replaced, finish
            await asyncio.wait(list(self.running))
        while self.queue:
            waiting = self.queue.popleft()
            if not waiting.future.done():
                waiting.future.set_exception(
                    ModelBusy(
                        f"The model {self.name!r} is shutting down", headers={"retry-after": "1"}
                    )
                )
