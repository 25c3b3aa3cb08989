"""The probe's targets: the kitchen-sink app and Conduit on a migrated SQLite database, each
started once per module; and a check that nothing the probe sends is logged as unhandled."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion import Settings
from bastion.auth import PasswordHasher
from bastion.testing import TestClient
from tests.hostile.app import create_app, make_site

BASE = "https://testserver"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def started(site: Path) -> Iterator[TestClient]:
    """The kitchen-sink app, started; 500s come back as responses, to be checked."""
    with TestClient(create_app(site), base_url=BASE, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(started: TestClient) -> TestClient:
    """The started app's client with no cookies: each case starts as a stranger."""
    started.cookies.clear()
    return started


@pytest.fixture(scope="module")
def conduit_started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Conduit on SQLite, migrated by the real ``bastion db upgrade`` (as tests/conduit does)."""
    from examples.conduit.app import create_app as create_conduit
    from tests.conduit.conftest import bastion_db

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('conduit') / 'conduit.db'}"
    bastion_db(url, "upgrade")
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app = create_conduit(Settings(profile="test"), database_url=url, hasher=hasher)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def conduit(conduit_started: TestClient) -> TestClient:
    conduit_started.cookies.clear()
    conduit_started.headers.pop("authorization", None)
    return conduit_started


class _Unhandled(logging.Handler):
    """Collects the records the error middleware writes for unexpected exceptions."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def nothing_unhandled() -> Iterator[Any]:
    """Fails a case whose request was logged as an unhandled error (a 500 in disguise,
    such as a WebSocket closed with 1011 or a channel's "internal error" reply)."""
    handler = _Unhandled()
    logger = logging.getLogger("bastion")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
    unhandled = [
        f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
        for r in handler.records
    ]
    assert not unhandled, unhandled


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    """The kitchen-sink app under a real uvicorn, with each of its HTTP parsers (they let
    different bytes through): its port, and the file its output goes to."""
    import os
    import sys

    from tests._processes import accepts, free_port, running

    port = free_port()
    log = tmp_path_factory.mktemp("server") / "uvicorn.log"
    root = Path(__file__).resolve().parents[2]
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.hostile.app:create_served_app",
        "--host", "127.0.0.1", "--port", str(port), "--http", request.param,
        "--timeout-keep-alive", "2", "--log-level", "warning",
    ]  # fmt: skip
    site = tmp_path_factory.mktemp("served-site")  # pytest removes it, unlike mkdtemp
    env = {**os.environ, "PYTHONPATH": str(root), "BASTION_HOSTILE_SITE": str(site)}
    with log.open("wb") as output, running(
        command, ready=lambda: accepts(port), what=f"uvicorn on port {port}",
        cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT,
    ):  # fmt: skip
        yield port, log
