"""Where inference runs: a thread pool sharing one model, or worker processes that each load
their own copy. The functions run inside a worker are module-level, so a process pool reaches
them (and the user's ``load``/``predict``) by reference; what comes back is plain data."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from bastion.exceptions import HTTPError

#: The detail every request of a failed batch reads; the traceback goes to the server log.
FAILED = "The model could not answer this request"


@dataclass(frozen=True)
class Failure:
    """One request's failed answer, picklable: the status and detail the client reads and
    the traceback the server logs (never sent)."""

    status: int
    detail: str
    log: str = ""


def run_batch(
    predict: Callable[[Any, list[Any]], Sequence[Any]], model: Any, items: list[Any], isolate: bool
) -> list[Any]:
    """``predict(model, items)`` once; each item's answer or a ``Failure``. When the batch
    fails and ``isolate`` holds, each item runs alone, so one input the model rejects fails
    only its own request, not its batch-mates'."""
    try:
        outputs = list(predict(model, items))
    except HTTPError as exc:
        failure = Failure(exc.status_code, exc.detail)
    except Exception:
        failure = Failure(500, FAILED, traceback.format_exc())
    else:
        if len(outputs) == len(items):
            return outputs
        failure = Failure(
            500,
            FAILED,
            f"predict returned {len(outputs)} answers for {len(items)} inputs; "
            "it must return one answer per input, in order",
        )
    if not isolate or len(items) == 1:
        return [failure] * len(items)
    return [run_batch(predict, model, [item], False)[0] for item in items]


# -- inside a worker process --------------------------------------------------------------------
_model: Any = None


def load_here(load: Callable[[], Any]) -> int:
    global _model
    _model = load()
    return os.getpid()


def run_here(
    predict: Callable[[Any, list[Any]], Sequence[Any]], items: list[Any], isolate: bool
) -> list[Any]:
    return run_batch(predict, _model, items, isolate)


def release_here(release: Callable[[Any], None] | None) -> None:
    global _model
    model, _model = _model, None
    if release is not None and model is not None:
        release(model)


# -- on the server's side -----------------------------------------------------------------------
class Slot:
    """One batch at a time runs in a slot. Thread slots share one pool and one model; a
    process slot is a process of its own (spawned, not forked: the server has threads and a
    running event loop, which a fork would copy half-way) holding its own model."""

    def __init__(self, executor: Executor, process: bool) -> None:
        self.executor = executor
        self.process = process
        self.model: Any = None

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(fn, *args))

    async def load(self, load: Callable[[], Any]) -> None:
        if self.process:
            await self.call(load_here, load)
        else:
            self.model = await self.call(load)

    async def run(
        self, predict: Callable[[Any, list[Any]], Sequence[Any]], items: list[Any], isolate: bool
    ) -> list[Any]:
        if self.process:
            result: list[Any] = await self.call(run_here, predict, items, isolate)
            return result
        answers: list[Any] = await self.call(run_batch, predict, self.model, items, isolate)
        return answers

    async def release(self, release: Callable[[Any], None] | None) -> None:
        if self.process:
            try:
                await self.call(release_here, release)
            finally:
                self.executor.shutdown(wait=True)
        else:
            model, self.model = self.model, None
            if release is not None and model is not None:
                await self.call(release, model)


def make_slots(kind: str, workers: int, name: str) -> tuple[list[Slot], Executor | None]:
    """``workers`` slots and, for threads, the pool they share (shut down after them)."""
    if kind == "process":
        context = multiprocessing.get_context("spawn")
        return [
            Slot(ProcessPoolExecutor(1, mp_context=context), True) for _ in range(workers)
        ], None
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"model-{name}")
    return [Slot(pool, False) for _ in range(workers)], pool


def new_process_slot() -> Slot:
    """A fresh process in place of one that died mid-batch."""
    return Slot(ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")), True)
