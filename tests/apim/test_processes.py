"""Quotas and usage across two uvicorn processes sharing one Redis: the counts are exact,
the refusal is a 429 carrying the reset time, and usage buffered in each process reaches
Redis at shutdown."""

from __future__ import annotations

import datetime
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import httpx

from bastion.apim import RedisStore
from bastion.testing import TestClient
from tests._processes import accepts, free_port, running
from tests.apim.apim_app import build

ROOT = Path(__file__).resolve().parents[2]


def test_quota_and_usage_are_exact_across_two_processes(redis_url: str, tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    app, jwt, _ = build(database, RedisStore(redis_url))
    signed_in = {"Authorization": "Bearer " + jwt.encode({"sub": "alice"})}
    with TestClient(app) as client:
        created = client.post("/developer/api/keys", json={"name": "CI"}, headers=signed_in)
        key = created.json()["key"]
        lookup = key.split("_")[1]

    env = {
        **os.environ,
        "APIM_DATABASE_URL": database,
        "APIM_STORE": redis_url,
        "APIM_FLUSH": "3600",  # only the shutdown flush writes: it must not lose a count
        "PYTHONPATH": str(ROOT),
    }
    ports = [free_port(), free_port()]
    statuses: list[int] = []
    pids: set[int] = set()
    refusals: list[httpx.Response] = []
    with ExitStack() as servers:
        for port in ports:
            command = [sys.executable, "-m", "uvicorn", "tests.apim.apim_app:app", "--host",
                       "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level",
                       "warning"]  # fmt: skip
            servers.enter_context(
                running(command, ready=lambda p=port: accepts(p), what="uvicorn", env=env, cwd=ROOT)
            )
        with httpx.Client(timeout=10, headers={"X-API-Key": key}) as http:
            for i in range(12):
                year = 1999 if i % 4 == 3 else 2026  # 1999 has no report: a 404, an error
                response = http.get(f"http://127.0.0.1:{ports[i % 2]}/reports/{year}")
                statuses.append(response.status_code)
                if response.status_code == 200:
                    pids.add(response.json()["pid"])
                if response.status_code == 429:
                    refusals.append(response)
    # Leaving the stack sent SIGTERM and waited: each process flushed its usage.

    assert statuses == [200, 200, 200, 404, 200, 200, 200, 404, 200, 200, 429, 429]
    assert len(pids) == 2  # both processes served, and spent one shared quota
    now = datetime.datetime.now(datetime.UTC)
    midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    for refused in refusals:
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert problem["reset"] == midnight.isoformat()
        assert problem["quota"] == "10/day"
        assert abs(int(refused.headers["retry-after"]) - (midnight - now).total_seconds()) < 5
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
        assert refused.headers["ratelimit-policy"] == "10;w=86400"

    with TestClient(app) as client:
        usage = client.get("/developer/api/usage?days=1", headers=signed_in).json()
    assert usage["requests"] == 12 and usage["errors"] == 4  # two 404s and two 429s
    assert usage["keys"] == {lookup: 12}
    [route] = usage["routes"]
    assert (route["route"], route["requests"], route["errors"]) == (
        "GET /reports/{year:int}",
        12,
        4,
    )
    assert route["mean_ms"] > 0
