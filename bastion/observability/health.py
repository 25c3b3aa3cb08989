"""Health checks: liveness (is this process able to serve?) and readiness (should it get
traffic?).

Liveness runs only checks of the process itself, never of shared systems: a database outage
must not make every replica restart at once. Readiness runs the dependency checks and goes
down (503) as soon as the app starts draining, so a load balancer stops sending traffic
while in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bastion.db import SQLAlchemyPlugin

Probe = Callable[[], Awaitable[Any]]
UP, DOWN = "UP", "DOWN"


class HealthCheck:
    """A named async probe. It passes unless it raises, returns ``False`` or overruns its
    ``timeout``; a dict it returns is shown as detail to authorised callers.

    ``HealthCheck("payments", ping_payments, timeout=1.0)``; ``liveness=True`` puts it in
    ``/health/live`` instead of ``/health/ready`` (only for checks of the process itself).
    """

    def __init__(
        self, name: str, probe: Probe, *, timeout: float = 2.0, liveness: bool = False
    ) -> None:
        if not callable(probe):
            raise ConfigurationError(
                f"HealthCheck {name!r}: the probe must be an async function, got {probe!r}"
            )
        if timeout <= 0:
            raise ConfigurationError(
                f"HealthCheck {name!r}: timeout={timeout} must be a positive number of seconds"
            )
        self.name = name
        self.probe = probe
        self.timeout = timeout
        self.liveness = liveness

    async def run(self) -> dict[str, Any]:
        """The check's result: ``{"status": "UP" | "DOWN", "duration_ms": …, …}``."""
        started = time.perf_counter()
        result: dict[str, Any]
        try:
            outcome = await asyncio.wait_for(self.probe(), self.timeout)
        except TimeoutError:
            result = {"status": DOWN, "error": f"timed out after {self.timeout:g} s"}
        except Exception as exc:
            result = {"status": DOWN, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            result = {"status": DOWN if outcome is False else UP}
            if isinstance(outcome, dict):
                result["detail"] = outcome
        result["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return result


async def run_checks(checks: Sequence[HealthCheck]) -> tuple[str, dict[str, Any]]:
    """Run checks concurrently; the overall status is DOWN if any check is."""
    results = await asyncio.gather(*(check.run() for check in checks))
    by_name = {check.name: result for check, result in zip(checks, results, strict=True)}
    status = DOWN if any(r["status"] == DOWN for r in results) else UP
    return status, by_name


def database_check(
    plugin: SQLAlchemyPlugin, *, name: str = "database", timeout: float = 2.0
) -> HealthCheck:
    """``SELECT 1`` through the SQLAlchemy plugin's engine (a pooled connection)."""

    async def probe() -> dict[str, Any]:
        engine = plugin.engine
        if engine is None:
            raise RuntimeError("the database engine is not started")
        from sqlalchemy import text

        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return pool_status(engine)

    return HealthCheck(name, probe, timeout=timeout)


def pool_status(engine: AsyncEngine) -> dict[str, Any]:
    """Connections checked out and idle, for pools that count them (not NullPool)."""
    from sqlalchemy.pool import QueuePool

    pool = engine.sync_engine.pool
    if not isinstance(pool, QueuePool):
        return {"pool": type(pool).__name__}
    return {"checked_out": pool.checkedout(), "idle": pool.checkedin(), "size": pool.size()}


def redis_check(url: str, *, name: str = "redis", timeout: float = 1.0) -> HealthCheck:
    """``PING`` on a fresh connection to ``url`` (``redis://host:6379/0``)."""
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise ConfigurationError(
            "redis_check needs redis-py: `pip install 'bastion[redis]'`"
        ) from None

    async def probe() -> None:
        client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout)
        try:
            await client.ping()
        finally:
            await client.aclose()

    return HealthCheck(name, probe, timeout=timeout)
