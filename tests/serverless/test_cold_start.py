"""The Conduit app's cold start as a Lambda, measured in fresh processes (no timing
assertions: the numbers are printed, and recorded in docs/serverless.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
SCRIPT = Path(__file__).parent / "coldstart.py"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_conduit_cold_start_in_a_fresh_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BASTION_", "PYTHON"))}
    env.update(
        BASTION_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'conduit.db'}",
        BASTION_PROFILE="prod",
        BASTION_SECRET_KEY="cold-start-test-key-" + "x" * 32,
        # Bytecode cached as a deployment package ships it (compileall), not compiled per start.
        PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"),
        PYTHONPATH=str(ROOT),
    )
    run(
        [
            str(Path(sys.executable).parent / "bastion"),
            "--app",
            "examples.conduit.app:app",
            "db",
            "upgrade",
        ],
        env,
    )
    run([sys.executable, str(SCRIPT)], env)  # fills the bytecode cache
    timings = json.loads(run([sys.executable, str(SCRIPT)], env).stdout)
    imports = run([sys.executable, "-X", "importtime", str(SCRIPT)], env).stderr
    assert timings["status"] == [200, 200]
    assert json.loads(timings["body"]) == {"tags": []}
    slowest = sorted(
        (line.split("|") for line in imports.splitlines() if line.count("|") == 2),
        key=lambda parts: -int(parts[1]) if parts[1].strip().isdigit() else 0,
    )[:5]
    print("\nConduit cold start (ms):", json.dumps(timings))
    print("slowest imports (cumulative us):", [(p[2].strip(), int(p[1])) for p in slowest])
