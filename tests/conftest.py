import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._postgres import start_postgres
from tests._redis import start_redis

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a throwaway PostgreSQL database, started once per test session.

    Its folder is made directly under the system temp dir: pytest's own temp folders are
    private to root, and the server runs as the postgres account when the tests run as root.
    """
    base = Path(tempfile.mkdtemp(prefix="bastion-pg-"))
    try:
        yield from start_postgres(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a throwaway Redis server, started once per test session."""
    base = Path(tempfile.mkdtemp(prefix="bastion-redis-"))
    try:
        yield from start_redis(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """An empty database of its own on the throwaway server (for tests that diff schemas)."""
    import asyncio
    import uuid

    import asyncpg

    name = f"fresh_{uuid.uuid4().hex[:12]}"
    admin = postgres_url.replace("postgresql+asyncpg", "postgresql")

    async def create() -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"
