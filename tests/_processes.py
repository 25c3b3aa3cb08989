"""What the tests' real servers share: a free port, a process awaited until it answers and
always stopped, and the rule for a missing engine (skip locally, fail in CI).

Imports nothing beyond the standard library at module level, so the benchmarks can use the
PostgreSQL launcher without pytest.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn


def missing(what: str) -> NoReturn:
    """``what`` is not installed: a skip on a developer machine, a failure in CI."""
    import pytest

    message = f"{what}; .ci/run installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different free ports: each socket stays bound until all are drawn, so the
    kernel cannot hand out one port twice."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def accepts(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@contextmanager
def running(
    command: list[str], *, ready: Callable[[], bool], what: str, timeout: float = 20, **popen: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait (bounded) until ``ready()``, and stop it afterwards."""
    import pytest

    process = subprocess.Popen(command, **popen)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
