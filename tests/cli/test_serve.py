"""`bastion serve` as a platform runs it: real processes on 127.0.0.1, real signals.

Every loop is bounded in count and time, and every process is killed at the end of its test
whatever happens. Nothing here asserts speed: the machine may be loaded.
"""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for worker pids")

APP = '''
import asyncio, os
from bastion import App, Request, Settings, WebSocket
from bastion.observability import ObservabilityPlugin

app = App(settings=Settings(profile="test"), plugins=[ObservabilityPlugin(token="t" * 20)])

@app.get("/work")
async def work(t: float = 0.1) -> dict:
    await asyncio.sleep(t)
    return {"pid": os.getpid()}

@app.get("/items/{item_id}")
async def item(item_id: int) -> dict:
    return {"id": item_id, "pid": os.getpid()}

@app.get("/client")
async def client(request: Request) -> dict:
    return {"host": request.client[0] if request.client else None, "scheme": request.scope["scheme"]}

@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"{text} from {os.getpid()}")
'''
SERVERS = ["uvicorn", pytest.param("granian", marks=pytest.mark.skipif(
    importlib.util.find_spec("granian") is None, reason="granian is optional (bastion[granian])"))]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serving(folder: Path, *options: str, server: str = "uvicorn", **extra_env: str) -> Iterator[Server]:
    """`bastion serve app:app --port 0 --server SERVER ...`, ready to take traffic; always
    killed at the end."""
    (folder / "app.py").write_text(APP)
    log = folder / "server.log"
    env = {**os.environ, "PYTHONPATH": str(folder), "COLUMNS": "300", "BASTION_SECRET_KEY": "s" * 40,
           **extra_env}
    command = [sys.executable, "-m", "bastion.cli", "serve", "app:app", "--port", "0", "--server", server,
               *options]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        server = Server(process, _wait_for_port(process, log), log)
        _wait_until_ready(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        with suppress(ProcessLookupError):  # whatever is left of its process group
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_for_port(process: subprocess.Popen, log: Path, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if found:
            return f"http://127.0.0.1:{found.group(1)}"
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"no port announced within {seconds} s:\n{log.read_text()}")


def _wait_until_ready(server: Server, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.url + "/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"never ready:\n{server.output()}")


def workers_of(pid: int) -> set[int]:
    """The live child processes of ``pid`` (from /proc; zombies excluded)."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


@dataclass
class Outcome:
    started: float
    ended: float
    ok: bool
    pid: int | None = None


@dataclass
class Load:
    """A steady stream of requests from a few threads, each one request at a time."""

    url: str
    threads: int = 4
    per_thread_limit: int = 400
    fresh_connections: bool = False
    results: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        headers = {"connection": "close"} if self.fresh_connections else {}
        with httpx.Client(timeout=30, headers=headers) as client:
            for _ in range(self.per_thread_limit):
                if self.stop.is_set():
                    return
                started = time.monotonic()
                try:
                    response = client.get(self.url)
                    ok = response.status_code == 200
                    pid = response.json()["pid"] if ok else None
                except httpx.TransportError:
                    ok, pid = False, None
                self.results.append(Outcome(started, time.monotonic(), ok, pid))
                if not ok:
                    time.sleep(0.05)  # refused connections fail fast: do not spin

    @contextmanager
    def running(self) -> Iterator["Load"]:
        workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        try:
            yield self
        finally:
            self.stop.set()
            for worker in workers:
                worker.join(timeout=60)

    def wait_for(self, successes: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while sum(r.ok for r in self.results) < successes:
            assert time.monotonic() < deadline, f"only {sum(r.ok for r in self.results)} answers"
            time.sleep(0.05)


@pytest.mark.parametrize("server_name", SERVERS)
def test_sigterm_drains_in_flight_requests_and_exits_0(tmp_path: Path, server_name: str) -> None:
    with serving(tmp_path, "--workers", "2", "--drain-delay", "2", server=server_name) as server:
        went_down: list[float] = []

        def watch_readiness() -> None:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                sent = time.monotonic()
                try:
                    ready = httpx.get(server.url + "/health/ready", timeout=5).status_code == 200
                except httpx.TransportError:
                    ready = False
                if not ready:
                    went_down.append(sent)
                    return
                time.sleep(0.05)

        with Load(server.url + "/work?t=0.3").running() as load:
            load.wait_for(successes=12)
            watcher = threading.Thread(target=watch_readiness, daemon=True)
            watcher.start()
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)  # to the supervisor only, as a platform does
            assert server.process.wait(timeout=90) == 0, server.output()
            watcher.join(timeout=30)

    assert went_down, "readiness never went down"
    before = [r for r in load.results if r.started < went_down[0]]
    failed = [r for r in before if not r.ok]
    assert not failed, f"{len(failed)} of {len(before)} requests sent before readiness went down failed"
    drained = [r for r in before if r.started < signalled < r.ended]
    assert drained, "no request was in flight at SIGTERM: the test proved nothing"
    assert "Traceback" not in server.output()


def test_a_killed_worker_is_replaced_and_only_its_requests_fail(tmp_path: Path) -> None:
    with serving(tmp_path, "--workers", "2") as server:
        original = workers_of(server.process.pid)
        assert len(original) == 2, server.output()
        load = Load(server.url + "/work?t=0.2", fresh_connections=True)
        with load.running():
            load.wait_for(successes=10)
            victim = sorted(original)[0]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 60
            replacement: set[int] = set()
            while not any(r.pid in replacement for r in load.results if r.started > killed_at):
                assert time.monotonic() < deadline, f"no new worker served:\n{server.output()}"
                replacement = workers_of(server.process.pid) - original
                time.sleep(0.1)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=90) == 0, server.output()

    failed = [r for r in load.results if not r.ok]
    # One request per client thread at a time: the dead worker held at most that many.
    assert len(failed) <= load.threads, f"{len(failed)} failures"
    assert all(r.started < killed_at + 0.5 for r in failed), "requests failed after the kill"
    assert f"Worker {victim} exited (killed by SIGKILL)" in server.output()


@pytest.mark.parametrize("server_name", SERVERS)
def test_metrics_add_up_across_two_workers(tmp_path: Path, server_name: str) -> None:
    with serving(tmp_path, "--workers", "2", server=server_name) as server:
        pids: set[int] = set()
        sent = 0
        # New connections, so that the kernel can hand them to either worker.
        with ThreadPoolExecutor(8) as pool, httpx.Client(timeout=30, headers={"connection": "close"}) as client:
            for _ in range(10):  # until both workers have answered (bounded)
                batch = [pool.submit(client.get, f"{server.url}/items/{sent + i}") for i in range(40)]
                for future in batch:
                    response = future.result()
                    assert response.status_code == 200
                    pids.add(response.json()["pid"])
                sent += len(batch)
                if len(pids) == 2:
                    break
            for _ in range(3):
                assert client.get(server.url + "/no/such/page").status_code == 404
            text = client.get(server.url + "/metrics").text

    assert len(pids) == 2, "one worker answered everything; the sum across workers is untested"
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    item = {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    assert value("bastion_http_requests_total", **item) == sent
    assert value("bastion_http_request_duration_seconds_count", **item) == sent
    assert value("bastion_http_requests_total", route="unmatched", status="404") == 3
    assert value("bastion_workers") == 2
    assert {s.labels["pid"] for s in samples if s.name == "process_resident_memory_bytes"} == {
        str(pid) for pid in pids
    }
    routes = {s.labels.get("route") for s in samples} - {None}
    assert not [r for r in routes if re.search(r"/items/\d", r)], "a raw path became a label"


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


@pytest.mark.parametrize("server_name", SERVERS)
def test_workers_drain_and_exit_when_the_supervisor_is_killed(tmp_path: Path, server_name: str) -> None:
    # A folder of the test's own: a killed supervisor cannot remove its temporary one.
    with serving(tmp_path, "--workers", "1", server=server_name,
                 PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m")) as server:
        workers = workers_of(server.process.pid)
        assert workers, server.output()
        server.process.send_signal(signal.SIGKILL)  # no chance to stop its workers itself
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 60
        while not all(_gone(pid) for pid in workers):
            assert time.monotonic() < deadline, "an orphaned worker kept running"
            time.sleep(0.1)


@pytest.mark.parametrize("server_name", SERVERS)
def test_an_app_that_cannot_start_stops_the_server_with_code_3(tmp_path: Path, server_name: str) -> None:
    (tmp_path / "broken.py").write_text(
        "from bastion import App, Settings\n"
        "def fail():\n    raise RuntimeError('database unreachable')\n"
        "app = App(settings=Settings(profile='test'), on_startup=[fail])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-m", "bastion.cli", "serve", "broken:app", "--port", "0", "-w", "2",
         "--server", server_name],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "database unreachable" in done.stderr
    assert "could not start the app" in done.stderr
    assert "Traceback" not in done.stderr.split("database unreachable")[-1]


@pytest.mark.parametrize("server_name", SERVERS)
def test_proxy_headers_are_trusted_only_when_asked(tmp_path: Path, server_name: str) -> None:
    forwarded = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    for option, expected in (("--proxy-headers", ("203.0.113.7", "https")),
                             ("--no-proxy-headers", ("127.0.0.1", "http"))):
        with serving(tmp_path, "--workers", "1", option, server=server_name) as server:
            seen = httpx.get(server.url + "/client", headers=forwarded, timeout=30).json()
        assert (seen["host"], seen["scheme"]) == expected, option


@pytest.mark.parametrize("server_name", SERVERS)
def test_websockets_are_served(tmp_path: Path, server_name: str) -> None:
    from websockets.sync.client import connect

    with serving(tmp_path, "--workers", "1", server=server_name) as server:
        with connect(server.url.replace("http", "ws") + "/echo", open_timeout=30) as ws:
            for word in ("one", "two"):
                ws.send(word)
                assert ws.recv(timeout=30).startswith(f"{word} from ")


@pytest.mark.skipif(importlib.util.find_spec("granian") is None, reason="granian is optional")
def test_the_default_server_on_linux_is_granian_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "300", "BASTION_SECRET_KEY": "s" * 40}
    env.pop("BASTION_SERVER", None)
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bastion.cli", "serve", "app:app", "--port", "0",
                                    "-w", "1"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        server = Server(process, _wait_for_port(process, log), log)
        _wait_until_ready(server)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, log.read_text()
    text = log.read_text()
    assert "with granian (the faster server on Linux; --server uvicorn for uvicorn)" in text
    # The app's observability plugin writes the logs: granian's own lines in its format too.
    assert "Starting granian" in text and "[INFO] Starting granian" not in text


SLOW_TO_START = """
import os, time
from bastion import App, Settings

app = App(settings=Settings(profile="test"))

def create_app():
    if os.environ.get("BASTION_GRANIAN_WORKER"):  # in granian's workers, not in the manager
        time.sleep(3)
    return app
"""


@pytest.mark.skipif(importlib.util.find_spec("granian") is None, reason="granian is optional")
def test_a_sigterm_while_a_granian_worker_starts_still_stops_it(tmp_path: Path) -> None:
    """A forked worker keeps the manager's SIGTERM handler until granian sets its own: a
    signal in that window used to be lost, and the worker served on until the grace period
    ran out (CI caught it as `serve --workers 2` taking over 20 s to stop)."""
    (tmp_path / "slow.py").write_text(SLOW_TO_START)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "BASTION_SECRET_KEY": "s" * 40}
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "bastion.cli", "serve", "slow:create_app()", "--port", "0", "-w", "1",
               "--server", "granian", "--timeout-graceful-shutdown", "120"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "Spawning worker-1" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)  # the worker is still in create_app()
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert "Stopped worker-1" in log.read_text()


def test_auto_falls_back_to_uvicorn_off_linux_or_without_granian(monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.cli.serve import choose_server

    assert choose_server("uvicorn") == ("uvicorn", "--server uvicorn")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert choose_server("auto")[0] == "uvicorn"
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    server, reason = choose_server("auto")
    assert server == "uvicorn" and "pip install 'bastion[granian]'" in reason


def test_an_app_whose_settings_stay_on_dev_is_refused_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "devapp.py").write_text(
        "from bastion import App, Settings\napp = App(settings=Settings(app_name='shop'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "BASTION_PROFILE"}
    env.update(PYTHONPATH=str(tmp_path), COLUMNS="300", BASTION_SECRET_KEY="s" * 40)
    command = [sys.executable, "-m", "bastion.cli", "serve", "devapp:app", "--port", "0", "-w", "1"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Settings.load(...)" in done.stderr and "BASTION_PROFILE=dev" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("server_name", SERVERS)
def test_a_taken_port_is_one_sentence_on_either_server(tmp_path: Path, server_name: str) -> None:
    import socket

    (tmp_path / "app.py").write_text(APP)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "300", "BASTION_SECRET_KEY": "s" * 40}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bastion.cli", "serve", "app:app", "--port", str(port), "-w", "1",
             "--server", server_name],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and "panicked" not in done.stderr
