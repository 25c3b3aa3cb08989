"""`bastion serve` runs gRPC beside HTTP in every worker: two workers share the gRPC port
(SO_REUSEPORT), both protocols answer, and SIGTERM stops both cleanly.

Real processes on 127.0.0.1, every wait bounded, every process killed at the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import grpc
import httpx
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests._processes import free_port
from tests.services._grpc_protos import folder as generated_folder
from tests.services.grpc_app import create_all, items, pb2, pb2_grpc, tokens

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for worker pids")
ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(stat.parent.name))
    return found


def test_serve_runs_grpc_beside_http_in_every_worker(tmp_path: Path) -> None:
    database = tmp_path / "inventory.db"
    engine = sa.create_engine(f"sqlite:///{database}")  # made once, not raced by two workers
    with engine.begin() as connection:
        create_all(connection)
        connection.execute(sa.insert(items).values(name="bolt", quantity=3))
    engine.dispose()
    grpc_port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(generated_folder())]),
        "BASTION_SECRET_KEY": "s" * 40,
        "BASTION_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "BASTION_GRPC_PORT": str(grpc_port),
        "COLUMNS": "300",
    }
    command = [
        sys.executable, "-m", "bastion.cli", "serve", "tests.services.grpc_app:app",
        "--port", "0", "--workers", "2",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        url = _http_url(process, log)
        deadline = time.monotonic() + 90
        while len(_children(process.pid)) < 2 or not _ready(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"never ready:\n{log.read_text()}"
            time.sleep(0.2)
        assert httpx.get(f"{url}/items/1", timeout=10).json()["name"] == "bolt"
        token = tokens.encode({"sub": "ada"})
        seen = 0
        # Fresh connections, so the kernel spreads them over both workers' listeners.
        while seen < 10:
            assert time.monotonic() < deadline + 60, log.read_text()
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
                except grpc.RpcError:  # a worker still starting its server
                    time.sleep(0.2)
                    continue
                assert status == health_pb2.HealthCheckResponse.SERVING
                stub = pb2_grpc.InventoryStub(channel)
                metadata = (("authorization", f"Bearer {token}"),)
                item = stub.GetItem(pb2.GetItemRequest(id=1), metadata=metadata, timeout=10)
                assert (item.name, item.quantity) == ("bolt", 3)
                seen += 1
        assert len(_children(process.pid)) == 2, log.read_text()  # neither refused the port
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, log.read_text()
        output = log.read_text()
        assert "Traceback" not in output, output
        assert output.count("gRPC serving inventory.v1.Inventory") == 2, output
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _http_url(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return f"http://127.0.0.1:{found.group(1)}"
        assert process.poll() is None, f"server exited early:\n{log.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"no port announced:\n{log.read_text()}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
