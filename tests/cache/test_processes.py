"""``remember`` across real processes: two processes, 25 concurrent callers each, one
computation, on every shared backend (the lock lives in the backend, not in a process)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: One process: waits until both are ready (a counter in the cache), then 25 concurrent
#: callers ask for one key; the factory counts its runs in the cache and takes 0.3 s.
CALLERS = """
import asyncio, json, sys
from bastion.cache import Cache
from bastion.cache.plugin import backend_from_url
from bastion.cache.database import DatabaseBackend

async def main(url, prefix):
    if url.startswith(("sqlite", "postgresql")):
        backend = DatabaseBackend(url)
    else:
        backend = backend_from_url(url, name="test", app=None, timeout=2.0)
    cache = Cache(backend, prefix=prefix)
    await cache.start()
    await cache.incr("ready", ttl=60)
    while (await cache.get("ready")) < 2:
        await asyncio.sleep(0.005)

    async def expensive():
        await cache.incr("computed", ttl=60)
        await asyncio.sleep(0.3)
        return {"answer": 42}

    results = await asyncio.gather(*(cache.remember("k", 60, expensive) for _ in range(25)))
    print(json.dumps({"results": results, "computed": await cache.get("computed")}))
    await cache.stop()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture(params=["redis", "memcached", "sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    if request.param == "memcached":
        return str(request.getfixturevalue("memcached_url"))
    from bastion.cache.database import metadata
    from bastion.db.engine import create_engine

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await engine.dispose()
    return url


def test_remember_computes_once_for_50_callers_in_two_processes(store_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex[:12]}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CALLERS, store_url, prefix],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(json.loads(out))
    assert all(o["results"] == [{"answer": 42}] * 25 for o in outputs)
    assert [o["computed"] for o in outputs] == [1, 1]  # whoever finished last saw every run
