"""``forward``: a plain WebSocket fed by the pub/sub, its client's messages, and a slow client."""

import asyncio

import pytest

from bastion import App, Settings
from bastion.testing import TestClient
from bastion.websockets import WebSocket, WebSocketDisconnect
from bastion.websockets.pubsub import PubSub, PubSubPlugin, forward


def make_app(outbound_queue: int = 1_000) -> App:
    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin()])

    @app.websocket("/feed")
    async def feed(websocket: WebSocket, pubsub: PubSub) -> None:
        await websocket.accept()

        async def echo(data: str | bytes) -> None:
            await websocket.send_text(f"echo {data}")

        await websocket.send_text("ready")
        await forward(websocket, pubsub, "a", "b", outbound_queue=outbound_queue, on_receive=echo)

    @app.post("/fire/{topic}/{n:int}")
    async def fire(topic: str, n: int, pubsub: PubSub) -> dict:
        for i in range(n):
            await pubsub.broadcast(topic, "tick", {"i": i})
        return {}

    return app


def wait_subscribed(client: TestClient, ws) -> None:
    assert ws.receive_text() == "ready"
    ws.send_text("ping")  # answered only once forward() reads, i.e. after it subscribed
    assert ws.receive_text() == "echo ping"


def test_broadcasts_reach_every_socket_as_json_and_the_client_is_heard():
    with TestClient(make_app()) as client:
        with client.websocket_connect("/feed") as one, client.websocket_connect("/feed") as two:
            wait_subscribed(client, one)
            wait_subscribed(client, two)
            client.post("/fire/a/2")
            client.post("/fire/b/1")
            client.post("/fire/elsewhere/1")
            for ws in (one, two):
                got = [ws.receive_json() for _ in range(3)]
                assert got == [
                    {"topic": "a", "event": "tick", "payload": {"i": 0}},
                    {"topic": "a", "event": "tick", "payload": {"i": 1}},
                    {"topic": "b", "event": "tick", "payload": {"i": 0}},
                ]


def stalled_after(frames: int, app):
    """A server whose transport takes ``frames`` frames, then pushes back (a client that
    stopped reading, once the kernel buffers are full)."""

    async def server(scope, receive, send):
        sent = 0

        async def stalling(message):
            nonlocal sent
            if message["type"] == "websocket.send":
                sent += 1
                if sent > frames:
                    await asyncio.Event().wait()
            await send(message)

        await app(scope, receive, stalling)

    return server


def test_a_client_that_falls_behind_is_closed_with_1008():
    app = make_app(outbound_queue=5)
    with TestClient(stalled_after(2, app)) as client, client.websocket_connect("/feed") as ws:
        wait_subscribed(client, ws)
        client.post("/fire/a/20")  # 1 write waits, 5 wait behind it, the next one is too many
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_text()
        assert closed.value.code == 1008


async def test_forward_needs_an_accepted_socket_and_a_topic():
    from bastion.websockets.pubsub import MemoryPubSub

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        pass

    websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    with pytest.raises(RuntimeError, match="accept"):
        await forward(websocket, MemoryPubSub(), "a")
    await websocket.accept()
    with pytest.raises(ValueError, match="topic"):
        await forward(websocket, MemoryPubSub())
