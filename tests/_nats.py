"""A throwaway NATS for the tests: nats-server with JetStream on 127.0.0.1, storing in a
temporary folder, started once per test session (per xdist worker) and stopped at its end.
Without nats-server the tests that need it are skipped on a developer machine and fail in CI
(``CI=true``), where ``.ci/run`` installs it.

Use the session fixture by importing it into a test module: ``from tests._nats import
nats_url``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests._processes import free_port, missing, running


def _ready(port: int, jetstream: bool) -> bool:
    """The server greets with its INFO, which says whether JetStream is on."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            line = sock.makefile("rb").readline(65536)
    except OSError:
        return False
    if not line.startswith(b"INFO "):
        return False
    return bool(json.loads(line[5:]).get("jetstream")) or not jetstream


@contextmanager
def nats_server(base: Path, *, port: int | None = None, jetstream: bool = True) -> Iterator[str]:
    """Yield the ``nats://`` URL of a nats-server keeping its JetStream files in ``base``
    (``jetstream=False``: a server without it); stop it afterwards."""
    binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")
    if binary is None:
        missing("NATS is not installed (nats-server not found)")
    port = port or free_port()
    command = [binary, "-a", "127.0.0.1", "-p", str(port)]
    if jetstream:
        command += ["-js", "-sd", str(base)]
    with running(
        command,
        ready=lambda: _ready(port, jetstream),
        what=f"nats-server on port {port}",
        timeout=20,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ):
        yield f"nats://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="bastion-nats-"))
    try:
        with nats_server(base) as url:
            yield url
    finally:
        shutil.rmtree(base, ignore_errors=True)
