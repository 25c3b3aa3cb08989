"""`make demo` and the README stay true: the Makefile's own migrate and seed commands work on
a fresh SQLite file (twice: seeding is idempotent), the committed migrations match the models,
and the README's curl commands work against a live server."""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from bastion import Settings
from bastion.testing import TestClient
from examples.conduit.app import create_app
from examples.conduit.models import ConduitModel
from tests.conduit.conftest import ROOT

BIN = str(Path(sys.executable).parent)


def demo_recipe() -> list[list[str]]:
    """The commands of the Makefile's `demo` target, with $(BIN) resolved."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has no demo target"
    return [shlex.split(line.strip().replace("$(BIN)", BIN)) for line in recipe.group(1).splitlines()]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    return {**env, **extra}


@pytest.fixture
def demo_database(tmp_path):
    """A fresh SQLite file, migrated and seeded by the demo recipe's own commands."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'conduit.db'}"
    setup = [command for command in demo_recipe() if "db" in command]
    assert [command[-1] for command in setup] == ["upgrade", "seed"]
    for command in setup + setup:  # twice: upgrading and seeding again change nothing
        result = subprocess.run(command, cwd=ROOT, env=clean_env(BASTION_DATABASE_URL=url),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    return url


def test_the_demo_recipe_migrates_and_seeds_a_fresh_sqlite_file(demo_database):
    with TestClient(create_app(Settings(profile="test"), database_url=demo_database)) as client:
        listing = client.get("/api/articles").json()
        assert listing["articlesCount"] == 3
        assert {a["author"]["username"] for a in listing["articles"]} == {"alice", "bob"}
        assert set(client.get("/api/tags").json()["tags"]) == {"bastion", "welcome", "python", "databases"}
        login = client.post("/api/users/login", json={"user": {"email": "alice@example.com", "password": "password123"}})
        auth = {"Authorization": f"Token {login.json()['user']['token']}"}
        feed = client.get("/api/articles/feed", headers=auth).json()
        assert [a["author"]["username"] for a in feed["articles"]] == ["bob"]
        assert feed["articles"][0]["favorited"] is True
        slug = feed["articles"][0]["slug"]
        assert len(client.get(f"/api/articles/{slug}/comments").json()["comments"]) == 1


async def test_the_migrations_match_the_models(conduit_url):
    """`bastion db revision --autogenerate` would find nothing to add (it sees the tables of the
    notifications battery's and the admin's migrations too, as here)."""
    from bastion.admin._schema import metadata as admin
    from bastion.notifications.database import metadata as notifications

    engine = create_async_engine(conduit_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), [ConduitModel.metadata, notifications, admin])
            )
    finally:
        await engine.dispose()
    assert differences == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_readme_curl_commands_work_against_the_demo_server(demo_database, tmp_path):
    serve = next(command for command in demo_recipe() if "run" in command)
    port = free_port()
    serve = [*serve[: serve.index("--port")], "--port", str(port), "--no-reload"]
    server = subprocess.Popen(serve, cwd=ROOT, env=clean_env(BASTION_DATABASE_URL=demo_database),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                if httpx.get(f"{base}/api/tags", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the demo server did not start"
            time.sleep(0.2)
        readme = (ROOT / "README.md").read_text()
        script = next(b for b in re.findall(r"^```sh\n(.*?)^```", readme, re.S | re.M) if "curl" in b)
        script = script.replace("http://127.0.0.1:8000", base)
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                                text=True, timeout=60, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        server.terminate()
        server.wait(timeout=15)
    documents, text, position = [], result.stdout, 0
    decoder = json.JSONDecoder()
    while position < len(text):
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
        position += len(text[position:]) - len(text[position:].lstrip())
    registered, created, read_back = documents
    assert registered["user"]["username"] == "ada"
    assert created["article"]["slug"] == "notes-on-the-engine"
    assert read_back == created
    assert read_back["article"]["tagList"] == ["computing", "history"]  # sorted, as RealWorld's
    assert read_back["article"]["author"]["username"] == "ada"
