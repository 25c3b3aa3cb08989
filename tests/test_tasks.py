"""cancel_and_wait: a background task that loses a cancellation is still stopped."""

import asyncio

from bastion._tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again():
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed == 2:
                    raise
                swallowed += 1  # as asyncio.wait_for does in Python 3.11 when a result races it
                asyncio.current_task().uncancel()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], every=0.01), timeout=5)
    assert task.cancelled() and swallowed == 2


async def test_tasks_that_failed_or_finished_already_are_fine():
    async def fails() -> None:
        raise RuntimeError("boom")

    failed, finished = asyncio.create_task(fails()), asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait([failed, finished])
    assert failed.done() and finished.done()
