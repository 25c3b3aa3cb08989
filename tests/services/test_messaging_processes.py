"""Message handlers across processes on a real NATS (JetStream) and a real Redis, both
started by the tests: ``bastion worker`` processes answer requests, share a group's events
(each handled once), and a worker killed mid-message has that message redelivered to
another one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bastion import App
from bastion.services.messaging import MessageBus, MessagingPlugin, RequestFailed
from tests._nats import nats_url  # noqa: F401 (a fixture)
from tests._processes import accepts, free_port
from tests.services.messaging_app import Ask, Order, Sum, backend

ROOT = Path(__file__).resolve().parents[2]
#: Generous: the machine is shared; the assertions are about behaviour, not speed.
WAIT = 60.0


@pytest.fixture(params=["nats", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    value: str = request.getfixturevalue(f"{request.param}_url")
    return value


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(url: str, prefix: str) -> AsyncIterator[MessageBus]:
    """A bus in this process that only publishes and requests."""
    bus = MessageBus()
    app = App(plugins=[MessagingPlugin(bus, backend(url, prefix), consume=False)])
    async with app.lifespan():
        yield bus


@contextmanager
def worker(
    url: str, prefix: str, out: Path, name: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``bastion --app tests.services.messaging_app:app worker``, stopped (or killed)
    afterwards; returns once it consumes."""
    out.mkdir(exist_ok=True)
    log = out / f"{name}.log"
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MSG_URL": url,
        "MSG_PREFIX": prefix,
        "MSG_OUT": str(out),
        **env,
    }
    command = [sys.executable, "-m", "bastion.cli", "--app", "tests.services.messaging_app:app"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "worker"], cwd=ROOT, env=environment, stdout=stderr, stderr=stderr
        )
    try:
        deadline = time.monotonic() + WAIT
        while b"consuming " not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker {name} did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def records(out: Path) -> list[dict[str, Any]]:
    found = []
    for path in out.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            if line.endswith("}"):
                found.append(json.loads(line))
    return found


async def until(condition: Any, what: str, out: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text()[-3000:] for p in out.glob("*.log"))
            pytest.fail(f"{what}; seen {records(out)}\n{logs}")
        await asyncio.sleep(0.05)


async def test_two_workers_answer_requests_and_share_a_groups_events(
    url: str, prefix: str, client: MessageBus, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # One worker from MessagingPlugin's `bastion worker`, one from JobsPlugin's.
    with worker(url, prefix, out, "a"), worker(url, prefix, out, "b", MSG_JOBS="1"):
        replies = await asyncio.gather(
            *(client.request("math.add", Ask(i, 1), reply_type=Sum, timeout=20) for i in range(20))
        )
        assert [r.total for r in replies] == [i + 1 for i in range(20)]
        assert os.getpid() not in {r.pid for r in replies}  # answered by the workers

        with pytest.raises(RequestFailed) as refused:
            await client.request("math.add", {"a": "one", "b": 2}, timeout=20)
        assert refused.value.status == 422
        assert refused.value.errors[0]["field"] == "payload.a"
        assert (await client.request("math.add", Ask(2, 2), reply_type=Sum, timeout=20)).total == 4

        total = 100
        for i in range(total):
            await client.publish("orders.created", Order(i))
        await client.publish("orders.created", {"id": "not a number"})  # logged, dropped

        def handled() -> list[dict[str, Any]]:
            return [r for r in records(out) if r["event"] == "handled"]

        await until(lambda: len(handled()) >= total, "not every event was handled", out)
        await asyncio.sleep(1.0)  # time for a duplicate to show up, if there were one
        ids = [r["id"] for r in handled()]
        assert sorted(ids) == list(range(total)), "each event handled once across the group"
        assert len({r["pid"] for r in handled()}) == 2, "both members took part"

        # The command line asks the same workers.
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "MSG_URL": url}
        environment.update(MSG_PREFIX=prefix, MSG_OUT=str(out))
        command = [sys.executable, "-m", "bastion.cli", "--app", "tests.services.messaging_app:app"]
        asked = await asyncio.to_thread(
            subprocess.run,
            [*command, "messages", "request", "math.add", '{"a": 40, "b": 2}', "-t", "20"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout)["total"] == 42


async def test_a_worker_killed_mid_message_has_it_redelivered_to_another(
    url: str, prefix: str, client: MessageBus, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fast = {"MSG_REDELIVER": "1.5"}
    with worker(url, prefix, out, "doomed", MSG_HANG="1", **fast) as doomed:
        await client.publish("orders.slow", Order(42))
        await until(
            lambda: any(r["event"] == "started" for r in records(out)), "never started", out
        )
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    with worker(url, prefix, out, "heir", **fast) as heir:
        await until(
            lambda: any(r["event"] == "finished" for r in records(out)),
            "the message was not redelivered",
            out,
        )
        finished = [r for r in records(out) if r["event"] == "finished"]
        assert finished == [{"event": "finished", "pid": heir.pid, "id": 42, "attempt": 2}]
        started = sorted(
            (r for r in records(out) if r["event"] == "started"), key=lambda r: r["attempt"]
        )
        assert [(r["pid"], r["attempt"]) for r in started] == [(doomed.pid, 1), (heir.pid, 2)]


async def test_bastion_serve_runs_the_handlers_when_told_to(
    url: str, prefix: str, client: MessageBus, tmp_path: Path
) -> None:
    """BASTION_MESSAGES_CONSUME=1: each process of `bastion serve` is a member of the group,
    beside its HTTP work."""
    import httpx

    out = tmp_path / "out"
    out.mkdir()
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MSG_URL": url,
        "MSG_PREFIX": prefix,
        "MSG_OUT": str(out),
        "BASTION_MESSAGES_CONSUME": "1",
        "BASTION_SECRET_KEY": "k" * 40,  # serve runs the prod profile
    }
    target = "tests.services.messaging_app:app"
    command = [sys.executable, "-m", "bastion.cli", "serve", target, "--port", str(port)]
    log = out / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*command, "--workers", "2"], cwd=ROOT, env=environment, stdout=output, stderr=output
        )
    try:
        await until(
            lambda: accepts(port) or server.poll() is not None, "bastion serve did not listen", out
        )
        assert server.poll() is None, log.read_text()[-3000:]
        # The supervisor listens before its workers have started: the first calls wait.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as http:
            for i in range(20):
                response = await http.post("/orders", json={"id": i})
                assert response.json() == {"id": i}
        replies = await asyncio.gather(
            *(client.request("math.add", Ask(i, i), reply_type=Sum, timeout=20) for i in range(8))
        )
        assert [r.total for r in replies] == [2 * i for i in range(8)]
        assert os.getpid() not in {r.pid for r in replies}

        def handled() -> list[int]:
            return sorted(r["id"] for r in records(out) if r["event"] == "handled")

        await until(lambda: handled() == list(range(20)), "events posted over HTTP", out)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log.read_text()[-3000:]
