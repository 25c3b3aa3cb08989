"""Broadcast fan-out latency with many Phoenix channel sockets on one app process.

    .venv/bin/python benchmarks/ws_fanout.py [--connections 5000] [--broadcasts 20]

Starts one uvicorn process serving a ChannelSocket, opens ``--connections`` WebSockets from
this process (they all join ``bench:fanout``), then asks the server ``--broadcasts`` times to
broadcast a message stamped with its send time (``time.monotonic``, shared by processes on
one machine). Reports the latency from the server's broadcast call to each socket's receipt
(p50/p99/max over every delivery) and the time until the last socket had each message.
The client side runs in one Python process too, so the numbers include its own work.
Not a test: it takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bastion import App, Settings
from bastion.websockets.channels import Channel, ChannelSocket, SocketLimits
from bastion.websockets.pubsub import PubSub, PubSubPlugin

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "bench:fanout"


def make_app() -> App:
    """The server under test: one channel, and an endpoint that triggers a broadcast."""
    class Fanout(Channel):
        pass

    app = App(settings=Settings(profile="prod", secret_key="b" * 40), plugins=[PubSubPlugin()])
    limits = SocketLimits(heartbeat_timeout=600)
    app.include(ChannelSocket("/socket", channels={TOPIC: Fanout}, limits=limits))

    @app.post("/fire/{n:int}")
    async def fire(n: int, pubsub: PubSub) -> dict:
        await pubsub.broadcast(TOPIC, "tick", {"n": n, "sent": time.monotonic()}, history=False)
        return {"n": n}

    return app


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        sys.exit(f"The open-file limit is {target} (hard limit {hard}); {wanted} are needed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def client(url: str, index: int, joined: asyncio.Event, ready: list, latencies: dict):
    import websockets

    async with websockets.connect(url, max_queue=None, open_timeout=60, ping_interval=None) as ws:
        await ws.send(json.dumps([str(index), str(index), TOPIC, "phx_join", {}]))
        while True:
            raw = await ws.recv()
            received = time.monotonic()
            _, _, _, event, payload = json.loads(raw)
            if event == "phx_reply":
                ready.append(index)
                if len(ready) == latencies["expected"]:
                    joined.set()
            elif event == "tick":
                latencies.setdefault(payload["n"], []).append(received - payload["sent"])
                if payload["n"] == latencies["last"]:
                    return


async def run(connections: int, broadcasts: int, port: int) -> None:
    import httpx

    url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
    joined, ready = asyncio.Event(), []
    latencies: dict = {"expected": connections, "last": broadcasts - 1}
    started = time.monotonic()
    tasks = []
    for index in range(connections):
        tasks.append(asyncio.create_task(client(url, index, joined, ready, latencies)))
        if index % 100 == 99:
            await asyncio.sleep(0.05)  # stay under the server's listen backlog
    await asyncio.wait_for(joined.wait(), 300)
    print(f"{connections} sockets joined in {time.monotonic() - started:.1f} s")

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for n in range(broadcasts):
            await http.post(f"/fire/{n}")
            await asyncio.sleep(0.5)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)

    every = sorted(v for n in range(broadcasts) for v in latencies.get(n, []))
    last = sorted(max(latencies[n]) for n in range(broadcasts))
    delivered = len(every)
    print(f"{broadcasts} broadcasts x {connections} sockets: {delivered} deliveries")

    def ms(values: list[float], q: float) -> str:
        return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.1f} ms"

    print(f"per delivery  p50 {ms(every, 0.50)}  p99 {ms(every, 0.99)}  max {ms(every, 1.0)}")
    print(f"last socket   p50 {ms(last, 0.50)}  p99 {ms(last, 0.99)}  "
          f"(mean {statistics.mean(last) * 1000:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--broadcasts", type=int, default=20)
    args = parser.parse_args()
    raise_fd_limit(args.connections * 2 + 1000)  # inherited by the server process
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.ws_fanout:make_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--backlog", "4096"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the server did not start")
                time.sleep(0.1)
        asyncio.run(run(args.connections, args.broadcasts, port))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
