"""The rate-limit backend protocol: one atomic ``hit`` per request."""

from __future__ import annotations

from typing import Protocol

from bastion.security.ratelimit.rate import Decision, Rate


class BackendUnavailable(Exception):
    """The store could not be reached; ``RateLimit`` answers 503 (or lets the request pass
    with ``fail_open=True``)."""


class RateLimitBackend(Protocol):
    """Records one request for ``key`` under ``rate`` and decides, atomically: two app
    processes hitting the same key at once must not both get the last unit of budget."""

    async def hit(self, key: str, rate: Rate) -> Decision: ...
