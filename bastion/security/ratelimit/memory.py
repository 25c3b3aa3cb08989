"""The embedded backend: one dict in this process (the default; one process only)."""

from __future__ import annotations

from time import monotonic

from bastion.security.ratelimit.rate import Decision, Rate, gcra

#: Above this many keys, keys whose budget is whole again are dropped.
SWEEP_ABOVE = 10_000


class MemoryBackend:
    """GCRA state per key in a dict. ``hit`` never awaits, so it is atomic in its loop."""

    def __init__(self, sweep_above: int = SWEEP_ABOVE) -> None:
        self._tat: dict[str, float] = {}
        self._sweep_above = sweep_above

    async def hit(self, key: str, rate: Rate) -> Decision:
        now = monotonic()
        tats = self._tat
        decision, tat = gcra(tats.get(key, now), now, rate)
        tats[key] = tat
        if len(tats) > self._sweep_above:
            self._sweep(now)
        return decision

    def _sweep(self, now: float) -> None:
        """Forget keys at full budget (a stored TAT in the past means exactly that)."""
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]
        # Still too many live keys (an attack from many addresses): raise the bar so the
        # sweep does not run on every request; memory then grows with the attack.
        self._sweep_above = max(self._sweep_above, 2 * len(self._tat))
