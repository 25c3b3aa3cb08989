"""Real servers and clients for the live tests: uvicorn subprocesses, Node, npm.

What is missing (node, npm, redis-server, chromium) skips a test on a developer machine and
fails it in CI (``CI=true``), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests._processes import accepts, free_port, missing, running

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "integration" / "node"


@contextmanager
def uvicorn(target: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Iterator[str]:
    """Serve ``module:factory`` on 127.0.0.1 and a free port; yield its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with running(command, ready=lambda: accepts(port), what=f"uvicorn {target} on port {port}",
                 cwd=cwd, env=environment):
        yield f"http://127.0.0.1:{port}"


def node_modules() -> Path:
    """``tests/integration/node/node_modules``, installed with ``npm ci`` when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("Node.js and npm are not installed")
    modules = NODE_DIR / "node_modules"
    if not (modules / "phoenix" / "package.json").exists() or not (modules / "ws").exists():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            missing(f"npm ci failed in {NODE_DIR}: {result.stderr[-2000:]}")
    return modules
