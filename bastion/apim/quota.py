"""Quotas: a number of requests per key per calendar day or month (UTC).

Unlike a rate limit (a smooth budget refilled continuously), a quota is a count that resets
at a fixed moment, the start of the next day or month, which is what plans and invoices are
written in. The count is one atomic ``INCR`` in the shared store, expiring at the window's end.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from bastion.exceptions import ConfigurationError

_SHAPE = re.compile(r"\s*(\d+)\s*/\s*(day|month)\s*")


@dataclass(frozen=True)
class Window:
    """One period of a quota: its id (``2026-12-06``, ``2026-12``), start and end."""

    id: str
    start: datetime.datetime
    end: datetime.datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True)
class Quota:
    """``Quota.parse("1000/day")`` or ``Quota(50_000, "month")``."""

    limit: int
    period: str

    def __post_init__(self) -> None:
        if self.period not in ("day", "month") or self.limit < 1:
            raise ConfigurationError(
                f"Quota({self.limit!r}, {self.period!r}): give a limit >= 1 per 'day' or 'month', "
                "e.g. '1000/day'"
            )

    @classmethod
    def parse(cls, text: str) -> Quota:
        match = _SHAPE.fullmatch(text)
        if match is None:
            raise ConfigurationError(
                f"quota {text!r}: write '<requests>/day' or '<requests>/month', e.g. '1000/day'"
            )
        return cls(int(match.group(1)), match.group(2))

    def window(self, now: datetime.datetime) -> Window:
        """The window ``now`` (aware, UTC) falls in."""
        day = now.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "day":
            return Window(day.strftime("%Y-%m-%d"), day, day + datetime.timedelta(days=1))
        start = day.replace(day=1)
        end = (start + datetime.timedelta(days=32)).replace(day=1)
        return Window(start.strftime("%Y-%m"), start, end)

    def __str__(self) -> str:
        return f"{self.limit}/{self.period}"
