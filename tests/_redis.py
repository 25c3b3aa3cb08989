"""A throwaway Redis for the tests: redis-server on 127.0.0.1 in a temporary folder.

Started once per test session (per xdist worker) and stopped at its end. Without redis-server
the tests that need it are skipped on a developer machine and fail in CI (``CI=true``), where
``.ci/run`` installs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests._processes import free_port, missing, running


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(base: Path) -> Iterator[str]:
    """Yield a ``redis://`` URL of a fresh server; stop it afterwards."""
    with redis_server(base) as (url, _):
        yield url


@contextmanager
def redis_server(
    base: Path, *, port: int | None = None, appendonly: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yield the URL and process of a redis-server keeping its files in ``base``; stop it
    afterwards. With ``appendonly`` every write is fsynced to the append-only file, so a
    server started again on the same ``base`` (and ``port``) holds what was acknowledged,
    even after a SIGKILL."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("Redis is not installed (redis-server not found)")
    port = port or free_port()
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "always"] if appendonly else ["--appendonly", "no"]
    )
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(base),
        "--save",
        "",
        *persistence,
        "--protected-mode",
        "yes",
    ]
    with running(
        command,
        ready=lambda: _answers(port),
        what=f"redis-server on port {port}",
        timeout=15,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        yield f"redis://127.0.0.1:{port}/0", process
