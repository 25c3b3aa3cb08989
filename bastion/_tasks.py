"""Stopping background tasks for good."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, every: float = 1.0) -> None:
    """Cancel ``tasks`` and return once each has ended, cancelling again every ``every``
    seconds while one runs on (long enough for a task's own clean-up on cancellation).

    A cancellation can be lost: Python 3.11's ``asyncio.wait_for`` returns the result of an
    operation that completes as the cancellation arrives (redis-py uses it while connecting),
    and the task carries on. Cancelled once and gathered, such a task hangs the shutdown, or
    keeps a node that should be gone heartbeating."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
    for task in tasks:  # retrieved, so asyncio does not log them as never retrieved
        if not task.cancelled():
            task.exception()
