"""The connection budget of ``bastion serve``: N workers each open their own pool.

Checked once by the supervisor before any worker starts, so a server that would run
PostgreSQL out of connections says so at start-up instead of failing requests under load.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

#: How long the check may wait for the database; an unreachable one is the workers' to report.
TIMEOUT = 5.0
# SQLAlchemy's QueuePool defaults, for a plugin given only one of the two options.
_POOL_SIZE, _MAX_OVERFLOW = 5, 10


def pool_per_worker(app: Any) -> tuple[str, int, str] | None:
    """The URL, the connections one worker may open and the setting that sizes them, for an
    app whose ``SQLAlchemyPlugin`` points at PostgreSQL with a bounded pool; else None."""
    from bastion.db.engine import async_url
    from bastion.db.plugin import SQLAlchemyPlugin

    plugin = next((p for p in app.plugins if isinstance(p, SQLAlchemyPlugin)), None)
    if plugin is None or plugin.url is None:
        return None
    try:
        if make_url(async_url(plugin.url)).get_backend_name() != "postgresql":
            return None
    except Exception:  # a malformed URL: the workers say what to change
        return None
    options = plugin.engine_options
    if "poolclass" in options or "pool" in options:  # a pool of the user's own: unknown size
        return None
    if "pool_size" not in options and "max_overflow" not in options:
        return plugin.url, int(app.settings.database_pool_size), "BASTION_DATABASE_POOL_SIZE"
    size = int(options.get("pool_size", _POOL_SIZE))
    overflow = int(options.get("max_overflow", _MAX_OVERFLOW))
    if overflow < 0:  # unbounded overflow: no budget to state
        return None
    return plugin.url, size + overflow, "SQLAlchemyPlugin(pool_size=..., max_overflow=...)"


def connection_budget(app: Any, workers: int) -> str | None:
    """A one-sentence warning when ``workers`` pools would exceed the connections PostgreSQL
    accepts (``max_connections`` less ``superuser_reserved_connections``), else None. Also
    None for SQLite, unbounded pools, and a database that cannot be reached now."""
    found = pool_per_worker(app)
    if found is None:
        return None
    url, per_worker, setting = found
    try:
        limits = asyncio.run(asyncio.wait_for(_limits(url), TIMEOUT))
    except Exception:  # unreachable, refused, too slow: the workers report it as usual
        return None
    max_connections, reserved = limits
    available = max_connections - reserved
    needed = workers * per_worker
    if needed <= available:
        return None
    return (
        f"{workers} workers with up to {per_worker} pooled connections each may open {needed} "
        f"connections to PostgreSQL, more than the {available} it accepts (max_connections "
        f"{max_connections} less superuser_reserved_connections {reserved}): use fewer "
        f"--workers, a smaller {setting}, or raise max_connections or put a pooler such "
        "as PgBouncer in front"
    )


async def _limits(url: str) -> tuple[int, int]:
    """``max_connections`` and ``superuser_reserved_connections``, on one unpooled connection."""
    from bastion.db.engine import create_engine

    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            maximum = (await connection.execute(text("SHOW max_connections"))).scalar_one()
            reserved = (
                await connection.execute(text("SHOW superuser_reserved_connections"))
            ).scalar_one()
    finally:
        await engine.dispose()
    return int(maximum), int(reserved)
