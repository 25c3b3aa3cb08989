"""The pre-fork supervisor behind ``bastion serve``: one listening socket, N worker processes.

The supervisor binds the socket and starts each worker as ``python -m bastion.cli._worker``
with the socket's file descriptor, so the kernel spreads connections over the workers. It
restarts a worker that dies, and on SIGTERM or SIGINT asks every worker to drain (readiness
down, in-flight requests finished within the grace period), then exits 0.

Workers share a runtime folder (``BASTION_RUNTIME_DIR``) holding the Prometheus
multiprocess files (``PROMETHEUS_MULTIPROC_DIR``) and the run-time log levels.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

#: uvicorn's exit code when the app's start-up fails: restarting would fail the same way.
STARTUP_FAILED = 3
_console = Console(stderr=True)
_FOLDER_VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "BASTION_RUNTIME_DIR")


@dataclass
class WorkerOptions:
    """What every worker is started with (sent as JSON on its command line)."""

    target: str
    fd: int
    timeout_graceful_shutdown: float
    drain_delay: float
    access_log: bool
    proxy_headers: bool


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The listening socket, inheritable so that worker processes can accept on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.set_inheritable(True)
    return sock


@contextmanager
def runtime_folder() -> Iterator[Path]:
    """The workers' shared folder, in ``PROMETHEUS_MULTIPROC_DIR`` and ``BASTION_RUNTIME_DIR``
    while serving (set before the app is imported: prometheus-client picks its mode then).

    A temporary folder, removed at the end, unless ``PROMETHEUS_MULTIPROC_DIR`` is already
    set: then that one, emptied first (old files would add old counts to new ones).
    """
    saved = {name: os.environ.get(name) for name in _FOLDER_VARIABLES}
    given = saved["PROMETHEUS_MULTIPROC_DIR"]
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="bastion-serve-"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink()
    os.environ.update(dict.fromkeys(_FOLDER_VARIABLES, str(folder)))
    try:
        yield folder
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


class Supervisor:
    """Starts, watches, restarts and finally stops the worker processes."""

    def __init__(
        self,
        sock: socket.socket,
        count: int,
        options: WorkerOptions,
        folder: Path,
    ) -> None:
        self.sock = sock
        self.count = count
        self.options = options
        self.folder = folder
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping: int | None = None  # the signal that asked us to stop
        self._deaths_in_a_row = 0

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit code for the process."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        try:
            self.workers = [self._spawn() for _ in range(self.count)]
            while self.stopping is None:
                if not self._replace_dead():
                    return STARTUP_FAILED
                time.sleep(0.2)
            return self._drain()
        finally:
            self._kill_leftovers()
            self.sock.close()

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = sig

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "bastion.cli._worker", json.dumps(asdict(self.options))]
        return subprocess.Popen(command, pass_fds=(self.options.fd,))

    def _replace_dead(self) -> bool:
        """Restart workers that died; False if one could not even start the app."""
        from prometheus_client import multiprocess

        mark_process_dead: Any = multiprocess.mark_process_dead  # untyped in some releases

        for index, worker in enumerate(self.workers):
            code = worker.poll()
            if code is None or self.stopping is not None:
                continue
            mark_process_dead(worker.pid, str(self.folder))
            if code == STARTUP_FAILED:
                _console.print(
                    f"[bold red]Worker {worker.pid} could not start the app[/] (see its "
                    "error above); stopping"
                )
                self.stopping = signal.SIGTERM
                self._drain()
                return False
            _console.print(
                f"[yellow]Worker {worker.pid} exited ({_describe(code)}); starting another[/]"
            )
            # A worker that keeps dying is restarted ever more slowly (at most every 10 s).
            self._deaths_in_a_row += 1
            time.sleep(min(0.1 * 2 ** (self._deaths_in_a_row - 1), 10.0))
            self.workers[index] = self._spawn()
        if all(w.poll() is None for w in self.workers):
            self._deaths_in_a_row = 0
        return True

    def _drain(self) -> int:
        """Ask every worker to finish its requests, and wait for them (bounded)."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        limit = self.options.drain_delay + self.options.timeout_graceful_shutdown + 10
        deadline = time.monotonic() + limit
        for worker in self.workers:
            try:
                worker.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _console.print(f"[red]Worker {worker.pid} did not stop within {limit:g} s[/]")
        return 0

    def _kill_leftovers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def _describe(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
