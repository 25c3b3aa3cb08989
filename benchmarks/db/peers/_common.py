"""What the database apps share: the DSN, the query-count rule, the fortunes template folder."""

import os
import random
from pathlib import Path

#: asyncpg form (postgresql://…); the SQLAlchemy apps add "+asyncpg" themselves.
DSN = os.environ.get("BENCH_PG_DSN", "postgresql://bastion@127.0.0.1:5432/bench")
SQLALCHEMY_URL = DSN.replace("postgresql://", "postgresql+asyncpg://", 1)
#: Every app gets the same pool: 16 connections, created in the lifespan.
POOL_SIZE = 16
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
ADDED_FORTUNE = "Additional fortune added at request time."


def query_count(raw: str | None) -> int:
    """``?queries=N`` as TechEmpower defines it: clamped to 1..500, anything else is 1."""
    try:
        n = int(raw or "1")
    except ValueError:
        return 1
    return min(max(n, 1), 500)


def random_ids(n: int) -> list[int]:
    """N distinct random World ids, sorted so concurrent updates never deadlock."""
    return sorted(random.sample(range(1, 10001), n))


def new_number() -> int:
    return random.randint(1, 10000)
