"""A throwaway memcached for the tests: ``memcached -l 127.0.0.1 -p <free port>``.

Without the binary the tests that need it are skipped on a developer machine and fail in CI
(``CI=true``), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests._processes import free_port, missing, running


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"version\r\n")
            return sock.recv(32).startswith(b"VERSION")
    except OSError:
        return False


def start_memcached() -> Iterator[str]:
    """Yield a ``memcached://`` URL of a fresh server; stop it afterwards."""
    with memcached_server() as (url, _):
        yield url


@contextmanager
def memcached_server(
    *, port: int | None = None, memory_mb: int = 64
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yield the URL and process of a memcached listening on 127.0.0.1 only; stop it
    afterwards (it keeps nothing on disk)."""
    binary = shutil.which("memcached")
    if binary is None:
        missing("memcached is not installed (memcached not found)")
    port = port or free_port()
    command = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", str(memory_mb)]
    if os.geteuid() == 0:  # memcached refuses to run as root without a user to become
        command += ["-u", "root"]
    with running(
        command,
        ready=lambda: _answers(port),
        what=f"memcached on port {port}",
        timeout=15,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        yield f"memcached://127.0.0.1:{port}", process
