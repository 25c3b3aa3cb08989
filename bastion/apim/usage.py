"""Usage recording off the request path: counters added up in process, flushed in batches.

``record`` is a dictionary update, no I/O; ``run`` flushes every ``interval`` seconds and the
plugin flushes once more at shutdown. A batch the store refuses is merged back and retried
at the next flush, so a store outage delays counts rather than losing them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bastion.apim.store import MeterStore

logger = logging.getLogger("bastion.apim")


class UsageRecorder:
    """Aggregates ``(key, route, day) -> [requests, errors, microseconds]`` for one process."""

    def __init__(self, store: MeterStore, *, interval: float = 5.0) -> None:
        self.store = store
        self.interval = interval
        self._pending: dict[tuple[str, str, str], list[int]] = {}
        self._day_number = -1
        self._day = ""

    def record(self, key: str, route: str, status: int, seconds: float) -> None:
        now = time.time()
        number = int(now // 86400)
        if number != self._day_number:
            self._day_number, self._day = number, time.strftime("%Y-%m-%d", time.gmtime(now))
        counters = self._pending.get((key, route, self._day))
        if counters is None:
            counters = self._pending[(key, route, self._day)] = [0, 0, 0]
        counters[0] += 1
        counters[1] += status >= 400
        counters[2] += int(seconds * 1_000_000)

    async def flush(self) -> None:
        """Write what was recorded; on failure keep it for the next flush."""
        batch, self._pending = self._pending, {}
        if not batch:
            return
        try:
            await self.store.add(batch)
        except Exception:
            for where, counters in batch.items():
                kept = self._pending.setdefault(where, [0, 0, 0])
                for i, value in enumerate(counters):
                    kept[i] += value
            raise

    async def run(self) -> None:
        """Flush every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception as exc:
                logger.warning("usage not flushed (kept for the next try): %s", exc)
