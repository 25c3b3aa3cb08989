"""Frames written straight to uvicorn's transport: byte-exact, and read by a strict client.

A broadcast's frame is made once and written to each socket's transport when the server
allows it (uvicorn's websockets-sansio protocol, no compression negotiated); a socket that
negotiated permessage-deflate goes through ``send`` as before. Both kinds share a topic here.
"""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from bastion.websockets._direct import TextFramer, direct_writer, text_frame
from tests.channels._live import uvicorn

APP = "tests.channels.live_app:make_app"


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 70_000])
def test_text_frames_are_those_of_rfc_6455(size):
    data = ("é" * size).encode()[:size]
    expected = Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    assert text_frame(data) == expected


def test_a_broadcast_is_framed_once_per_text():
    framer = TextFramer()
    text = json.dumps([None, None, "room:1", "tick", {"n": 1}])
    assert framer(text) is framer(text)
    assert framer(text + " ") == text_frame((text + " ").encode())


def test_other_servers_and_wrapped_sends_get_no_direct_writer():
    async def send(message):
        pass

    assert direct_writer(send) is None
    assert direct_writer(print) is None


async def join(url: str, name: str, compression: str | None):
    ws = await connect(url, compression=compression)
    await ws.send(json.dumps(["1", "1", "room:direct", "phx_join", {"name": name}]))
    while json.loads(await ws.recv())[3] != "phx_reply":
        pass
    return ws


async def next_event(ws, event: str):
    async with asyncio.timeout(20):
        while True:
            frame = json.loads(await ws.recv())
            if frame[3] == event:
                return frame


def test_broadcasts_reach_sockets_with_and_without_compression():
    async def scenario(url: str) -> None:
        plain = [await join(url, f"plain{i}", None) for i in range(3)]
        deflated = [await join(url, f"deflated{i}", "deflate") for i in range(2)]
        try:
            for n in range(3):  # several broadcasts, then a large one (a 16-bit length)
                body = "x" * (60_000 if n == 2 else 10)
                await plain[0].send(json.dumps(["1", str(n + 2), "room:direct", "shout", {"body": body}]))
                for ws in plain + deflated:
                    frame = await next_event(ws, "shout")
                    assert frame[4] == {"body": body, "from": "plain0"}
        finally:
            for ws in plain + deflated:
                await ws.close()

    with uvicorn(APP) as base:
        asyncio.run(scenario(base.replace("http://", "ws://") + "/socket/websocket?vsn=2.0.0"))


def test_a_broadcast_is_encoded_once_per_serializer():
    from bastion.websockets.channels._frames import V1, V2
    from bastion.websockets.pubsub import Message

    message = Message("room:1", "tick", {"n": 1})
    assert V2.broadcast(message) is V2.broadcast(message)
    assert V1.broadcast(message) is V1.broadcast(message)
    assert json.loads(V1.broadcast(message)) == {
        "topic": "room:1", "event": "tick", "payload": {"n": 1}, "ref": None, "join_ref": None
    }


@pytest.mark.parametrize("kind", ["channel", "forward"])
def test_a_client_that_stops_reading_is_dropped_by_a_real_server(kind):
    """Frames go straight to the transport until it pushes back; then at most
    ``outbound_queue`` wait, and the socket is closed: the server never holds more."""
    import base64
    import os
    import socket
    import struct
    import time

    import httpx

    with uvicorn("tests.channels.slow_app:make_app") as base:
        port = int(base.rsplit(":", 1)[1])
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/socket/websocket?vsn=2.0.0" if kind == "channel" else "/feed"
        raw.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        raw.settimeout(10)
        answer = raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 101")
        if kind == "channel":
            join = json.dumps(["1", "1", "room:slow", "phx_join", {}]).encode()
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(join))
            raw.sendall(struct.pack("!BB", 0x81, 0x80 | len(join)) + mask + masked)
            assert b"phx_reply" in raw.recv(4096)
        elif b"joined" not in answer:
            assert b"joined" in raw.recv(4096)
        with httpx.Client(base_url=base, timeout=60) as http:
            assert http.get("/open").json() == {"open": 1}
            http.post("/flood/400")  # 24 MB for a client that reads nothing more
            deadline = time.monotonic() + 30
            while http.get("/open").json() != {"open": 0}:
                assert time.monotonic() < deadline, "the slow client was never dropped"
                time.sleep(0.2)
        raw.close()
