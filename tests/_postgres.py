"""A throwaway PostgreSQL for the tests: initdb + pg_ctl in a temporary folder, 127.0.0.1 only.

Started once per test session and stopped at its end. Without a PostgreSQL installation the
tests that need it are skipped on a developer machine and fail in CI (``CI=true``), where
``.ci/run`` installs it. The database benchmarks (benchmarks/db/run) start theirs with it too,
so this module imports pytest only when it has to skip or fail (tests/_processes.py).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests._processes import free_port, missing


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def start_postgres(base: Path, options: str = "") -> Iterator[str]:
    """Yield an asyncpg URL of a fresh database; stop the server afterwards. ``options`` are
    extra ``postgres`` command-line flags."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        missing("PostgreSQL is not installed (initdb not found)")
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres account
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    data, sockets, port = base / "data", base / "sockets", free_port()
    sockets.mkdir()
    if run_as:
        shutil.chown(sockets, "postgres")

    def pg(*command: str, timeout: float = 60) -> None:
        subprocess.run([*run_as, str(bin_dir / command[0]), *command[1:]], check=True,
                       capture_output=True, timeout=timeout)

    pg("initdb", "-D", str(data), "-U", "bastion", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off {options}"
    pg("pg_ctl", "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "-t", "30",
       "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "bastion", "bastion_test")
        yield f"postgresql+asyncpg://bastion@127.0.0.1:{port}/bastion_test"
    finally:
        pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
