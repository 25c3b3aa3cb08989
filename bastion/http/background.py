"""``BackgroundTasks``: work a handler leaves to run once its response has been sent.

    @app.post("/signup", status_code=201)
    async def signup(body: Signup, tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(send_welcome, body.email)
        return {"status": "ok"}

The tasks run in this process, after the last byte of the response (a stream's too), in the
order they were added; a task that raises is logged and the next still runs. Nothing is
stored: if the process stops first they never run, and a handler that fails runs none. For
work that must survive a restart, or be retried, enqueue a job (docs/jobs.md).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

logger = logging.getLogger("bastion.error")


class BackgroundTasks:
    """Ask for it as a parameter (``tasks: BackgroundTasks``); one per request."""

    __slots__ = ("tasks",)

    def __init__(self) -> None:
        self.tasks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self.tasks)

    def add_task(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Call ``fn(*args, **kwargs)`` after the response; a sync ``fn`` runs in a thread."""
        if not callable(fn):
            raise TypeError(f"add_task takes a function, not {fn!r}")
        self.tasks.append((fn, args, kwargs))

    async def run(self) -> None:
        """Run the tasks in order; each failure is logged, not raised."""
        for fn, args, kwargs in self.tasks:
            try:
                if _is_async(fn):
                    await fn(*args, **kwargs)
                else:
                    import anyio.to_thread

                    result = await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
                    if inspect.isawaitable(result):
                        await result
            except Exception:
                name = getattr(fn, "__qualname__", repr(fn))
                logger.exception("Background task %s failed after the response was sent", name)


def _is_async(fn: Callable[..., Any]) -> bool:
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(fn)


async def background_tasks() -> AsyncIterator[BackgroundTasks]:
    """The provider: its teardown runs after the response is sent, and only when the
    handler succeeded (a failure is thrown in at ``yield`` and skips the tasks)."""
    tasks = BackgroundTasks()
    yield tasks
    if tasks.tasks:
        await tasks.run()
