"""ServerTiming: report the time spent inside the app in a ``Server-Timing`` header.

Browsers show it in their network panel, next to the network time, which tells a slow
server from a slow network at a glance. Only one total is reported, measured around the
inner layers with ``time.perf_counter``; nothing about the internals (queries, cache hits)
is revealed unless a handler adds its own ``server-timing`` entries.
"""

from __future__ import annotations

import re
from time import perf_counter

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext

_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


class ServerTiming:
    """Adds ``server-timing: app;dur=<milliseconds, 3 decimals>``; ``metric`` names the entry."""

    def __init__(self, metric: str = "app") -> None:
        if not _TOKEN.fullmatch(metric):
            raise ConfigurationError(
                f"ServerTiming: metric {metric!r} is not a valid name; use letters, digits and "
                "dashes, e.g. 'app'"
            )
        self.metric = metric
        self._template = metric.encode("ascii") + b";dur=%.3f"

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        start = perf_counter()
        response = await call_next(request)
        elapsed_ms = (perf_counter() - start) * 1000.0
        response.raw_headers.append((b"server-timing", self._template % elapsed_ms))
        return response
