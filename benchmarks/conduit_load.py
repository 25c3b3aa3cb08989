#!/usr/bin/env python3
"""Conduit under load: wrk -c64 for 30 s against GET /api/articles on PostgreSQL.

A throwaway PostgreSQL (tests/_postgres.py), the example migrated and seeded with its own CLI,
served the production way (`bastion serve --workers 2`, prod profile) on the same 2-core
machine as PostgreSQL and wrk. Prints wrk's report; a failed, timed-out or non-2xx request
makes the run exit 1. Run from the project root with the project's venv:
    .venv/bin/python benchmarks/conduit_load.py [--seconds 30] [--workers 2]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests._postgres import start_postgres  # noqa: E402

BIN = Path(sys.executable).parent
APP = "examples.conduit.app:app"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seconds = args.seconds
    base = Path(tempfile.mkdtemp(prefix="bastion-conduit-load-"))
    servers = start_postgres(base)
    try:
        url = next(servers)
        env = {**os.environ, "BASTION_DATABASE_URL": url, "BASTION_PROFILE": "prod",
               "BASTION_SECRET_KEY": "load-test-" + "x" * 40, "PYTHONPATH": str(ROOT)}
        for command in ("upgrade", "seed"):
            subprocess.run([str(BIN / "bastion"), "--app", APP, "db", command], cwd=ROOT, env=env,
                           check=True, capture_output=True, timeout=120)
        port = 8765
        server = subprocess.Popen(
            [str(BIN / "bastion"), "serve", APP, "--port", str(port), "--workers",
             str(args.workers), "--no-access-log"], cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL)
        try:
            target = f"http://127.0.0.1:{port}/api/articles"
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(target, timeout=1).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit("the Conduit server did not start")
                    time.sleep(0.2)
            subprocess.run(["wrk", "-t1", "-c64", "-d2s", target],
                           capture_output=True, check=True)  # warm-up
            report = subprocess.run(
                ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", target],
                capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
            print(report)
            failed = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", report)
            if failed:
                sys.exit(f"requests failed: {failed[0]}")
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
    finally:
        servers.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
