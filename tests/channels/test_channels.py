"""Channels over the Phoenix V2 protocol, in process: join, replies, broadcasts, presence,
authorization, intercepts, faults and limits."""

import asyncio
from typing import Annotated, Any

import msgspec
import pytest

from bastion import App, Depends, Query, Settings
from bastion.exceptions import ConfigurationError, Unauthorized
from bastion.testing import TestClient, WebSocketDenied
from bastion.websockets import WebSocketDisconnect
from bastion.websockets.channels import Channel, ChannelError, ChannelSocket, SocketLimits, on
from bastion.websockets.pubsub import PubSub, PubSubPlugin
from tests.channels._phx import Phx

URL = "/socket/websocket?vsn=2.0.0"


class JoinParams(msgspec.Struct):
    name: str


class Shout(msgspec.Struct):
    body: str


async def current_user(token: Annotated[str | None, Query()] = None) -> str:
    if token is None or not token.startswith("user-"):
        raise Unauthorized("a valid token is needed")
    return token.removeprefix("user-")


class Room(Channel):
    intercepts = ("secret",)

    async def join(self, topic: str, params: JoinParams) -> dict:
        if params.name == "mallory":
            raise ChannelError("unauthorized")
        self.assigns["name"] = params.name
        return {"hello": params.name}

    async def after_join(self) -> None:
        await self.push("presence_state", self.presence_list())
        await self.track(self.assigns["name"], {"status": "here"})

    @on("shout")
    async def shout(self, payload: Shout) -> dict:
        await self.broadcast("shout", {"body": payload.body, "from": self.assigns["name"]})
        return {"sent": True}

    @on("whisper")
    async def whisper(self, payload: Shout) -> None:
        await self.broadcast_from("whisper", {"body": payload.body})

    @on("secret")
    async def secret(self, payload: Shout) -> None:
        await self.broadcast("secret", {"body": payload.body})

    @on("boom")
    async def boom(self, payload: Any) -> None:
        raise RuntimeError("a bug in a handler")

    @on("flood")
    async def flood(self, payload: Any) -> None:
        for n in range(20):
            await self.broadcast("flood", {"n": n})

    async def handle_out(self, event: str, payload: Any) -> Any:
        return None if self.assigns["name"] == "bob" else {**payload, "filtered": True}


class Private(Channel):
    async def join(self, topic: str, params: dict, user: Annotated[str, Depends(current_user)]):
        if topic != f"private:{user}":
            raise ChannelError({"reason": "not your room"})
        return {"user": user}


def make_app(**socket_options: Any) -> App:
    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin()])
    channels = {"room:*": Room, "private:*": Private}
    app.include(ChannelSocket("/socket", channels=channels, **socket_options))

    @app.post("/announce/{room}")
    async def announce(room: str, pubsub: PubSub) -> dict:
        await pubsub.broadcast(f"room:{room}", "announcement", {"text": "from HTTP"})
        return {"ok": True}

    return app


@pytest.fixture
def client():
    with TestClient(make_app()) as client:
        yield client


def phx(client: TestClient, url: str = URL) -> Any:
    return client.websocket_connect(url)


def test_join_push_reply_broadcast_and_presence(client):
    with phx(client) as a, phx(client) as b:
        alice, bob = Phx(a), Phx(b)
        assert alice.join("room:1", {"name": "alice"}) == {
            "status": "ok",
            "response": {"hello": "alice"},
        }
        join_ref, ref, _, _, state = alice.event("room:1", "presence_state")
        assert (join_ref, ref, state) == (alice.join_refs["room:1"], None, {})
        diff = alice.event("room:1", "presence_diff")[4]
        [meta] = diff["joins"]["alice"]["metas"]
        assert meta["status"] == "here" and meta["phx_ref"]
        assert diff["leaves"] == {}

        assert bob.join("room:1", {"name": "bob"})["status"] == "ok"
        assert set(bob.event("room:1", "presence_state")[4]) == {"alice"}
        assert set(alice.event("room:1", "presence_diff")[4]["joins"]) == {"bob"}

        assert alice.push("room:1", "shout", {"body": "hi"}) == {
            "status": "ok",
            "response": {"sent": True},
        }
        frame = bob.event("room:1", "shout")
        assert frame == [None, None, "room:1", "shout", {"body": "hi", "from": "alice"}]
        assert alice.event("room:1", "shout")[4]["from"] == "alice"

        assert alice.push("room:1", "phx_leave", {})["status"] == "ok"
        assert alice.event("room:1", "phx_close")[0] == alice.join_refs["room:1"]
        left = bob.expect(lambda f: f[3] == "presence_diff" and f[4]["leaves"])[4]
        assert set(left["leaves"]) == {"alice"} and left["joins"] == {}


def test_join_refused_by_the_channel(client):
    with phx(client) as ws:
        assert Phx(ws).join("room:1", {"name": "mallory"}) == {
            "status": "error",
            "response": {"reason": "unauthorized"},
        }


def test_join_params_are_validated(client):
    with phx(client) as ws:
        reply = Phx(ws).join("room:1", {"nom": "x"})
        assert reply["status"] == "error"
        assert reply["response"]["reason"] == "invalid params"


def test_join_authorized_by_a_dependency(client):
    with phx(client, URL + "&token=user-ann") as ws:
        p = Phx(ws)
        assert p.join("private:ann") == {"status": "ok", "response": {"user": "ann"}}
        assert p.join("private:bob")["response"] == {"reason": "not your room"}
    with phx(client) as ws:
        reply = Phx(ws).join("private:ann")
        assert reply == {
            "status": "error",
            "response": {"reason": "a valid token is needed", "status": 401},
        }


def test_unmatched_topics_get_an_error_reply(client):
    with phx(client) as ws:
        p = Phx(ws)
        assert p.join("lobby")["response"] == {"reason": "unmatched topic"}
        assert p.push("room:9", "shout", {"body": "x"})["response"] == {"reason": "unmatched topic"}


def test_a_failing_handler_replies_error_and_the_socket_lives_on(client, caplog):
    with phx(client) as ws:
        p = Phx(ws)
        p.join("room:1", {"name": "alice"})
        assert p.push("room:1", "boom", {}) == {
            "status": "error",
            "response": {"reason": "internal error"},
        }
        assert "a bug in a handler" in caplog.text
        assert p.push("room:1", "shout", {"body": "still here"})["status"] == "ok"
        assert p.push("phoenix", "heartbeat", {}) == {"status": "ok", "response": {}}


def test_wrong_payload_and_unknown_event_reply_errors(client):
    with phx(client) as ws:
        p = Phx(ws)
        p.join("room:1", {"name": "alice"})
        assert p.push("room:1", "shout", {"text": 1})["response"]["reason"] == "invalid payload"
        assert p.push("room:1", "dance", {})["response"] == {"reason": "unhandled event 'dance'"}


def test_broadcast_from_skips_the_sender(client):
    with phx(client) as a, phx(client) as b:
        alice, bob = Phx(a), Phx(b)
        alice.join("room:1", {"name": "alice"})
        bob.join("room:1", {"name": "bob"})
        assert alice.push("room:1", "whisper", {"body": "psst"})["status"] == "ok"
        assert bob.event("room:1", "whisper")[4] == {"body": "psst"}
        assert alice.push("phoenix", "heartbeat", {})["status"] == "ok"
        assert not [f for f in alice.pending if f[3] == "whisper"]


def test_intercepts_filter_per_socket(client):
    with phx(client) as a, phx(client) as b:
        alice, bob = Phx(a), Phx(b)
        alice.join("room:1", {"name": "alice"})
        bob.join("room:1", {"name": "bob"})
        bob.push("room:1", "secret", {"body": "s"})
        assert alice.event("room:1", "secret")[4] == {"body": "s", "filtered": True}
        bob.push("phoenix", "heartbeat", {})
        assert not [f for f in bob.pending if f[3] == "secret"]


def test_broadcast_from_an_http_handler(client):
    with phx(client) as ws:
        p = Phx(ws)
        p.join("room:7", {"name": "alice"})
        assert client.post("/announce/7").json() == {"ok": True}
        assert p.event("room:7", "announcement")[4] == {"text": "from HTTP"}


def test_rejoin_closes_the_old_channel_first(client):
    with phx(client) as ws:
        p = Phx(ws)
        p.join("room:1", {"name": "alice"})
        old = p.join_refs["room:1"]
        assert p.join("room:1", {"name": "alice"})["status"] == "ok"
        assert p.event("room:1", "phx_close")[0] == old


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", 1007),
        ('{"topic": "room:1"}', 1008),
        ('[null, "1", "room:1"]', 1008),
        (b"\x07garbage", 1003),
    ],
)
def test_invalid_frames_close_with_the_right_code(client, frame, code):
    with phx(client) as ws:
        if isinstance(frame, bytes):
            ws.send_bytes(frame)
        else:
            ws.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == code


def test_binary_pushes_reach_handlers_as_bytes():
    received = []

    class Files(Channel):
        @on("upload")
        async def upload(self, payload: bytes) -> dict:
            received.append(payload)
            return {"size": len(payload)}

    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin()])
    app.include(ChannelSocket("/socket", channels={"files": Files}))
    with TestClient(app) as client, phx(client) as ws:
        p = Phx(ws)
        p.join("files")
        join_ref = p.join_refs["files"]
        header = bytes([0, len(join_ref), 2, 5, 6]) + f"{join_ref}99filesupload".encode()
        ws.send_bytes(header + b"\x00\x01\x02")
        assert p.reply("99") == {"status": "ok", "response": {"size": 3}}
        assert received == [b"\x00\x01\x02"]


def closes_with(ws, code: int) -> None:
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            ws.receive_json()
    assert closed.value.code == code


def test_a_message_too_big_closes_with_1009():
    with TestClient(make_app(limits=SocketLimits(max_message_size=100))) as client:
        with phx(client) as ws:
            Phx(ws).send("room:1", "phx_join", {"name": "x" * 200})
            closes_with(ws, 1009)


def test_too_many_messages_close_with_1008():
    limits = SocketLimits(messages_per_second=1, burst=3)
    with TestClient(make_app(limits=limits)) as client, phx(client) as ws:
        p = Phx(ws)
        for _ in range(5):
            p.send("phoenix", "heartbeat", {})
        closes_with(ws, 1008)


def stalled_after(frames: int, app):
    """``app`` behind a server whose transport stops taking frames after ``frames`` of them:
    what a client that stopped reading looks like once the kernel buffers are full."""

    async def server(scope, receive, send):
        sent = 0

        async def stalling(message):
            nonlocal sent
            if message["type"] == "websocket.send":
                sent += 1
                if sent > frames:
                    await asyncio.Event().wait()  # pushed back until the write is cancelled
            await send(message)

        await app(scope, receive, stalling)

    return server


def test_a_slow_consumer_is_disconnected():
    app = make_app(limits=SocketLimits(outbound_queue=5))
    with TestClient(stalled_after(1, app)) as client, phx(client) as ws:
        p = Phx(ws)
        p.join("room:1", {"name": "alice"})
        p.send("room:1", "flood", {})  # 20 broadcasts: 1 write waits, 5 wait behind it, then
        closes_with(ws, 1008)


def test_an_idle_socket_is_closed_after_the_heartbeat_timeout():
    limits = SocketLimits(heartbeat_timeout=0.3)
    with TestClient(make_app(limits=limits)) as client, phx(client) as ws:
        closes_with(ws, 1000)


def test_shutdown_closes_sockets_with_going_away():
    app = make_app()
    with TestClient(app) as client, phx(client) as ws:
        Phx(ws).join("room:1", {"name": "alice"})
        client.portal.call(app.shutdown())  # what the server's lifespan shutdown runs
        closes_with(ws, 1001)


def test_unsupported_vsn_and_foreign_origins_are_refused(client):
    with pytest.raises(WebSocketDenied):
        client.websocket_connect("/socket/websocket?vsn=3.0.0").__enter__()
    headers = {"origin": "https://evil.example"}
    with pytest.raises(WebSocketDenied):
        client.websocket_connect(URL, headers=headers).__enter__()
    with client.websocket_connect(URL, headers={"origin": "http://testserver"}) as ws:
        assert Phx(ws).push("phoenix", "heartbeat", {})["status"] == "ok"


@pytest.mark.parametrize("vsn", ["2.0", "2.1.0", "2.0.0.0", "2.x", "1.", "1.1.0", "20.0.0", "2.0.0 "])
def test_versions_outside_2_0_x_and_1_0_x_are_refused(client, vsn):
    """As Phoenix's ``~> 2.0.0`` / ``~> 1.0.0``: a version that merely starts with 2. or 1.
    is not one this socket speaks."""
    with pytest.raises(WebSocketDenied):
        client.websocket_connect(f"/socket/websocket?vsn={vsn}").__enter__()


@pytest.mark.parametrize("vsn", ["2.0.0", "2.0.1", "2.0.0-rc.1", "1.0.0"])
def test_versions_2_0_x_and_1_0_x_are_spoken(client, vsn):
    with client.websocket_connect(f"/socket/websocket?vsn={vsn}") as ws:
        ws.send_text('{"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "1"}'
                     if vsn.startswith("1") else '[null, "1", "phoenix", "heartbeat", {}]')
        reply = ws.receive_json()
        assert (reply["payload"] if vsn.startswith("1") else reply[4])["status"] == "ok"


def test_connect_decides_and_sets_assigns():
    class Who(Channel):
        async def join(self, topic: str, params: dict) -> dict:
            return {"user": self.assigns["user"]}

    async def connect(token: Annotated[str | None, Query()] = None) -> dict | bool:
        return {"user": token} if token else False

    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin()])
    app.include(ChannelSocket("/socket", channels={"who": Who}, connect=connect))
    with TestClient(app) as client:
        with pytest.raises(WebSocketDenied):
            client.websocket_connect(URL).__enter__()
        with client.websocket_connect(URL + "&token=ann") as ws:
            assert Phx(ws).join("who")["response"] == {"user": "ann"}


def test_a_socket_without_the_plugin_fails_at_start_up():
    app = App(settings=Settings(profile="test"))
    app.include(ChannelSocket("/socket", channels={"room:*": Room}))
    with pytest.raises(ConfigurationError, match=r"plugins=\[PubSubPlugin\(\)\]"):
        asyncio.run(app.startup())


def test_misconfigured_channels_fail_early():
    with pytest.raises(ConfigurationError, match="prefix ending in"):
        ChannelSocket("/socket", channels={"room:*:x": Room})
    with pytest.raises(ConfigurationError, match="Channel subclasses"):
        ChannelSocket("/socket", channels={"room:*": object})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="must start with"):
        ChannelSocket("socket/", channels={"room:*": Room})
    with pytest.raises(ConfigurationError, match="handle_out"):

        class Bad(Channel):
            intercepts = ("x",)

    with pytest.raises(ConfigurationError, match="async def"):

        class Sync(Channel):
            @on("x")
            def x(self, payload: Any) -> None: ...

    with pytest.raises(ConfigurationError, match="positive"):
        SocketLimits(burst=0)


def test_the_v1_serializer_speaks_json_objects(client):
    """Older and third-party clients (vsn=1.0.0): the same protocol, frames as objects."""
    with client.websocket_connect("/socket/websocket?vsn=1.0.0") as ws:

        def send(ref, topic, event, payload, join_ref="1"):
            ws.send_json(
                {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": join_ref}
            )

        send("1", "room:v1", "phx_join", {"name": "alice"})
        assert ws.receive_json() == {
            "topic": "room:v1",
            "event": "phx_reply",
            "payload": {"status": "ok", "response": {"hello": "alice"}},
            "ref": "1",
            "join_ref": "1",
        }
        assert ws.receive_json()["event"] == "presence_state"
        assert ws.receive_json()["event"] == "presence_diff"
        send("2", "room:v1", "shout", {"body": "hi"})
        frames = [ws.receive_json(), ws.receive_json()]
        broadcast = {"topic": "room:v1", "event": "shout", "payload": {"body": "hi", "from": "alice"},
                     "ref": None, "join_ref": None}
        assert broadcast in frames
        assert {"status": "ok", "response": {"sent": True}} in [f["payload"] for f in frames]
        ws.send_bytes(b"\x00\x01\x01\x07\x05" + b"12room:v1shout")  # no binary form in V1
        closes_with(ws, 1003)


@pytest.mark.parametrize("frame", ['["1", "1", "room:v1", "phx_join", {}]', '{"topic": 1}', "{oops"])
def test_the_v1_serializer_refuses_other_shapes(client, frame):
    with client.websocket_connect("/socket/websocket?vsn=1.0.0") as ws:
        ws.send_text(frame)
        closes_with(ws, 1007 if frame == "{oops" else 1008)
