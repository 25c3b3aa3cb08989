"""RateLimit: a budget of requests per key, as middleware on the app, a router or a route.

Every answer carries the IETF draft headers ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds until the budget is whole) plus ``RateLimit-Policy``; a refused
request gets 429 problem+json with ``Retry-After``. One ``RateLimit`` object is one budget:
attached to a router, all its routes spend from it.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from typing import cast

from bastion.exceptions import ServiceUnavailable, TooManyRequests
from bastion.http.headers import RawHeaders
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response
from bastion.security.ratelimit.backend import BackendUnavailable, RateLimitBackend
from bastion.security.ratelimit.keys import KeyFunction, by_ip
from bastion.security.ratelimit.memory import MemoryBackend
from bastion.security.ratelimit.rate import Decision, Rate
from bastion.types import CallNext

logger = logging.getLogger("bastion.security")


class RateLimit:
    """``RateLimit("10/minute", key=by_ip, backend=RedisBackend(url), name="login")``.

    ``name`` tells budgets apart in a shared backend (default: the rate and the key
    function's name), so give limiters of the same rate and key their own names there.
    ``fail_open=True`` lets requests through (and logs) when the backend is unreachable;
    by default they get 503, so an outage cannot switch brute-force protection off.
    """

    def __init__(
        self,
        rate: str | Rate,
        *,
        key: KeyFunction = by_ip,
        backend: RateLimitBackend | None = None,
        name: str | None = None,
        fail_open: bool = False,
    ) -> None:
        self.rate = Rate.parse(rate) if isinstance(rate, str) else rate
        self.key = key
        self._key = _as_async(key)
        self.backend: RateLimitBackend = backend if backend is not None else MemoryBackend()
        key_name = getattr(key, "__name__", type(key).__name__)
        self.name = name if name is not None else f"{self.rate}:{key_name}"
        self._prefix = self.name + ":"
        self.fail_open = fail_open
        limit = str(self.rate.limit).encode()
        self._limit_header = (b"ratelimit-limit", limit)
        self._policy_header = (
            b"ratelimit-policy",
            b"%s;w=%d" % (limit, math.ceil(self.rate.period)),
        )

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        ident = await self._key(request)
        try:
            decision = await self.backend.hit(self._prefix + (ident or by_ip(request)), self.rate)
        except BackendUnavailable as exc:
            if not self.fail_open:
                error = ServiceUnavailable(
                    "The rate limiter is unavailable; retry shortly", headers={"retry-after": "1"}
                )
                return ProblemResponse(error.problem(), error.status_code, error.headers)
            logger.warning("Rate limit %s not enforced: %s", self.name, exc)
            return await call_next(request)
        if not decision.allowed:
            return self._refused(decision)
        response = await call_next(request)
        response.raw_headers.extend(self._headers(decision))
        return response

    def _headers(self, decision: Decision) -> RawHeaders:
        return [
            self._limit_header,
            (b"ratelimit-remaining", str(decision.remaining).encode()),
            (b"ratelimit-reset", str(math.ceil(decision.reset_after)).encode()),
            self._policy_header,
        ]

    def _refused(self, decision: Decision) -> Response:
        retry = max(1, math.ceil(decision.retry_after))
        error = TooManyRequests(
            f"Rate limit exceeded: {self.rate.limit} requests per {self.rate.period:g} "
            f"seconds; retry in {retry} seconds",
            extra={"retry_after": retry},
        )
        response = ProblemResponse(error.problem(), error.status_code)
        response.raw_headers.append((b"retry-after", str(retry).encode()))
        response.raw_headers.extend(self._headers(decision))
        return response


def _as_async(key: KeyFunction) -> Callable[[Request], Awaitable[str | None]]:
    """One calling convention on the hot path, chosen once."""
    if inspect.iscoroutinefunction(key):
        return cast(Callable[[Request], Awaitable[str | None]], key)
    sync_key = cast(Callable[[Request], str | None], key)

    async def call(request: Request) -> str | None:
        return sync_key(request)

    return call
