"""``Metered``: the marker that puts a route (or every route of a router) under quotas and
usage recording; ``APIManagement`` turns it into an endpoint wrapper at start-up, where the
route's template (``GET /items/{id}``) is known once instead of per request."""

from __future__ import annotations

import datetime
import inspect
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from bastion.apim.quota import Quota
from bastion.apim.store import MeterStore
from bastion.apim.usage import UsageRecorder
from bastion.exceptions import ConfigurationError, TooManyRequests
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response
from bastion.types import CallNext, Endpoint

if TYPE_CHECKING:
    from bastion.auth.plugin import AuthPlugin

KeyFunction = Callable[[Request], str | None] | Callable[[Request], Awaitable[str | None]]
_KEY = re.compile(r"[a-z]{1,8}_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


def by_api_key(header: str = "X-API-Key") -> Callable[[Request], str | None]:
    """The presented key's public lookup part (``bst_<lookup>_...``): no secret is ever
    stored, and no database read is needed; None without a well-formed key."""
    name = header.lower()

    def key(request: Request) -> str | None:
        match = _KEY.fullmatch(request.headers.get(name, "").strip())
        return match.group(1) if match else None

    return key


def by_user(auth: AuthPlugin) -> Callable[[Request], Awaitable[str | None]]:
    """The authenticated subject (``user:<id>``): one quota across all of a user's keys."""

    async def key(request: Request) -> str | None:
        identity = await auth.identify(request)
        return f"user:{identity.subject}" if identity is not None else None

    return key


class Metered:
    """``Metered("1000/day", "20000/month", key=by_api_key())`` in a route's or router's
    ``middleware``: each request of a key spends one of every quota, and its status and
    latency are recorded. Requests the key function cannot attribute (None) pass unmetered
    for quotas and are recorded as ``anonymous``."""

    def __init__(self, *quotas: str | Quota, key: KeyFunction | None = None) -> None:
        self.quotas = [Quota.parse(q) if isinstance(q, str) else q for q in quotas]
        self.key: KeyFunction = key if key is not None else by_api_key()
        self._key = _as_async(self.key)
        self._apps: set[int] = set()

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        if id(request.scope.get("app")) not in self._apps:
            raise ConfigurationError(
                "Metered is on a route of an app without APIManagement: add "
                "App(plugins=[APIManagement(keys, store=...)])"
            )
        return await call_next(request)

    def wrap(
        self, endpoint: Endpoint, route: str, store: MeterStore, recorder: UsageRecorder
    ) -> Endpoint:
        """The endpoint behind this policy's quotas, recording usage under ``route``."""
        quotas, find_key, record = self.quotas, self._key, recorder.record
        clock = time.perf_counter

        async def metered(request: Request) -> Response:
            started = clock()
            ident = await find_key(request)
            if ident is None or not quotas:
                response = await endpoint(request)
            else:
                headers, refused = await _spend(quotas, ident, store)
                response = refused or await endpoint(request)
                if refused is None:
                    response.raw_headers.extend(headers)
            record(ident or "anonymous", route, response.status_code, clock() - started)
            return response

        return metered


async def _spend(
    quotas: list[Quota], ident: str, store: MeterStore
) -> tuple[list[tuple[bytes, bytes]], Response | None]:
    """Count one request against each quota: the IETF draft headers of the tightest quota,
    and a 429 if any quota is spent."""
    now = datetime.datetime.now(datetime.UTC)
    spent = []
    for quota in quotas:
        window = quota.window(now)
        used = await store.count(f"{quota}:{ident}:{window.id}", window.end.timestamp())
        spent.append((quota.limit - used, quota, window.end))
    remaining, quota, reset = min(spent, key=lambda s: s[0])
    seconds = max(1, math.ceil((reset - now).total_seconds()))
    headers = [
        (b"ratelimit-limit", str(quota.limit).encode()),
        (b"ratelimit-remaining", str(max(0, remaining)).encode()),
        (b"ratelimit-reset", str(seconds).encode()),
        (b"ratelimit-policy", f"{quota.limit};w={quota.window(now).seconds}".encode()),
    ]
    if remaining >= 0:
        return headers, None
    error = TooManyRequests(
        f"Quota exceeded: {quota.limit} requests per {quota.period}; it resets at "
        f"{reset.isoformat()} (in {seconds} seconds)",
        extra={"quota": str(quota), "reset": reset.isoformat(), "retry_after": seconds},
    )
    refused = ProblemResponse(error.problem(), error.status_code)
    refused.raw_headers.append((b"retry-after", str(seconds).encode()))
    refused.raw_headers.extend(headers)
    return headers, refused


def _as_async(key: KeyFunction) -> Callable[[Request], Awaitable[str | None]]:
    if inspect.iscoroutinefunction(key):
        return cast(Callable[[Request], Awaitable[str | None]], key)
    sync_key = cast(Callable[[Request], str | None], key)

    async def call(request: Request) -> str | None:
        return sync_key(request)

    return call
