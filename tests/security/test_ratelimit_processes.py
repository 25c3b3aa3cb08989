"""The Redis backend keeps one budget across separate app processes (real uvicorn servers)."""

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests._processes import free_ports

ROOT = Path(__file__).resolve().parents[2]
APP = textwrap.dedent(
    """
    import os

    from bastion import App, Settings
    from bastion.security import RateLimit, RedisBackend

    limit = RateLimit(
        "10/hour",
        backend=RedisBackend(os.environ["LIMIT_REDIS_URL"], prefix=os.environ["LIMIT_PREFIX"]),
        name="shared",
    )
    app = App(settings=Settings(profile="test"))


    @app.get("/ping", middleware=[limit])
    async def ping() -> dict[str, int]:
        return {"pid": os.getpid()}
    """
)


def wait_until_serving(process: subprocess.Popen, port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn on port {port} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"uvicorn did not start on 127.0.0.1:{port} within {timeout}s")


def test_limit_holds_across_two_processes(redis_url, tmp_path):
    (tmp_path / "limited_app.py").write_text(APP)
    env = {
        **os.environ,
        "LIMIT_REDIS_URL": redis_url,
        "LIMIT_PREFIX": f"procs:{uuid.uuid4().hex}:",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    ports = free_ports(2)
    logs = [tmp_path / f"uvicorn-{port}.log" for port in ports]
    handles = [log.open("wb") for log in logs]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "limited_app:app", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log", "--log-level", "warning"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=handle,
        )
        for port, handle in zip(ports, handles)
    ]
    try:
        for process, port, log in zip(processes, ports, logs):
            wait_until_serving(process, port, log)
        statuses: list[int] = []
        pids: set[int] = set()
        with httpx.Client(timeout=10) as client:
            for i in range(30):
                response = client.get(f"http://127.0.0.1:{ports[i % 2]}/ping")
                statuses.append(response.status_code)
                if response.status_code == 200:
                    pids.add(response.json()["pid"])
                else:
                    assert response.headers["retry-after"]
                    assert response.headers["ratelimit-remaining"] == "0"
        assert statuses == [200] * 10 + [429] * 20
        assert len(pids) == 2  # both processes served, and spent the same budget
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in handles:
            handle.close()
