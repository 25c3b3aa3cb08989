"""Stopping background tasks for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger("bastion")


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, every: float = 1.0) -> None:
    """Cancel ``tasks`` and return once each has ended, cancelling again every ``every``
    seconds while one runs on. A task that failed is logged, as asyncio would log it.

    A cancellation can be lost: Python 3.11's ``asyncio.wait_for`` returns the result of an
    operation that completes as the cancellation arrives, and the task carries on (client
    libraries use it around socket operations; redis-py did so in this project's CI).
    Cancelled once and gathered, such a task hangs the shutdown, or keeps a node that should
    be gone heartbeating. If the caller is cancelled meanwhile, the tasks are cancelled once
    more and the caller's cancellation goes on."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    try:
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=every)
    except asyncio.CancelledError:
        for task in pending:
            task.cancel()
        raise
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            logger.error("Background task %s failed", task.get_name(), exc_info=task.exception())
