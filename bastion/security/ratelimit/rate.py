"""Rates (``"10/minute"``) and the GCRA decision both backends implement.

GCRA (the generic cell rate algorithm) keeps one number per key: the *theoretical arrival
time* (TAT), when the key's budget would be whole again. Each request pushes it forward by
``period / limit``; a request is refused when that would put it more than one ``period``
ahead of now. It allows bursts up to ``limit``, refills smoothly (no stampede at a window
edge) and needs one read and one write per request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bastion.exceptions import ConfigurationError

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+)\s*")


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests per ``period`` seconds; ``Rate.parse("10/minute")``."""

    limit: int
    period: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/minute"``, ``"100 per hour"``, ``"5/30s"``, ``"1000/day"``."""
        match = _RATE.fullmatch(text.lower())
        if match is None or match.group(3) not in _UNITS:
            raise ConfigurationError(
                f"Rate {text!r} is not understood; write a count and a period such as "
                "'10/minute', '100/hour', '5/30s' or '1000/day'"
            )
        return cls.of(int(match.group(1)), int(match.group(2) or 1) * _UNITS[match.group(3)])

    @classmethod
    def of(cls, limit: int, period: float) -> Rate:
        if limit < 1 or period <= 0:
            raise ConfigurationError(
                f"A rate needs at least 1 request per a positive period, not {limit} per "
                f"{period} seconds"
            )
        return cls(limit, float(period))

    @property
    def interval(self) -> float:
        """Seconds one request costs: ``period / limit``."""
        return self.period / self.limit

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


@dataclass(frozen=True, slots=True)
class Decision:
    """What a backend answered: allowed or not, and the numbers for the headers (seconds)."""

    allowed: bool
    remaining: int
    reset_after: float
    retry_after: float


def gcra(tat: float, now: float, rate: Rate) -> tuple[Decision, float]:
    """The decision for a request at ``now`` and the TAT to store (unchanged if refused)."""
    tat = max(tat, now)
    # Compared as "how far ahead the TAT is" against the burst it may run ahead by: computing
    # ``tat + interval - period`` instead can round above ``now`` for a fresh key (1/minute).
    ahead = tat - now
    if ahead > rate.period - rate.interval:
        return Decision(False, 0, ahead, ahead + rate.interval - rate.period), tat
    return decision_from(rate, ahead + rate.interval), tat + rate.interval


def decision_from(rate: Rate, reset_after: float) -> Decision:
    """An allowed request's decision, from how far ahead its TAT now is."""
    remaining = math.floor((rate.period - reset_after) / rate.interval + 1e-9)
    return Decision(True, max(remaining, 0), reset_after, 0.0)
