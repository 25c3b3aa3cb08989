"""ServerTiming: report the time spent in the app in a ``Server-Timing`` header.

Browsers show it in their network panel; only the total is reported, never internals.
"""

from __future__ import annotations

from time import perf_counter

from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext


class ServerTiming:
    """Adds ``server-timing: app;dur=<milliseconds>``."""

    def __init__(self, metric: str = "app") -> None:
        self.prefix = f"{metric};dur="

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        start = perf_counter()
        response = await call_next(request)
        elapsed = (perf_counter() - start) * 1000
        response.raw_headers.append((b"server-timing", f"{self.prefix}{elapsed:.3f}".encode()))
        return response
