"""Phoenix's long-poll transport, in process: sessions, frames both ways, expiry, refusals."""

import asyncio
import base64
import json

import pytest

from bastion import App, Request, Settings
from bastion.exceptions import ConfigurationError
from bastion.testing import AsyncTestClient, TestClient
from bastion.websockets.channels import Channel, ChannelSocket, SocketLimits, on, phoenix_token
from bastion.websockets.pubsub import PubSubPlugin

POLL = "/socket/longpoll"
#: Long enough that a loaded machine's pause between a test's requests never ends a session
#: (a session outlives its client's last request by one window); polls answer as soon as
#: frames arrive, so only a poll that finds nothing waits this long.
WINDOW = 5.0
#: For the tests about the window itself: expiry, and a poll that finds nothing.
SHORT = 0.5


ENDED: list[str] = []


class Echo(Channel):
    async def join(self, topic: str, params: dict) -> dict:
        return {"user": self.assigns["user"]}

    async def terminate(self, reason: str) -> None:
        ENDED.append(self.topic)

    @on("echo")
    async def echo(self, payload: dict) -> dict:
        await self.broadcast("echoed", payload)
        return payload


async def connect(request: Request) -> dict | bool:
    token = phoenix_token(request)
    return False if token == "refuse" else {"user": token or "anonymous"}


def build(**options) -> tuple[App, ChannelSocket]:
    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin()])
    socket = ChannelSocket(
        "/socket", channels={"room:*": Echo}, connect=connect, longpoll=True, **options
    )
    app.include(socket)
    return app, socket


def make_app(**options) -> App:
    return build(**options)[0]


def frame(join_ref, ref, topic, event, payload) -> str:
    return json.dumps([join_ref, ref, topic, event, payload])


async def open_session(client, **headers) -> str:
    opened = await client.get(POLL, params={"vsn": "2.0.0"}, headers=headers)
    assert opened.status_code == 200 and opened.json()["status"] == 410
    return opened.json()["token"]


async def poll(client, token: str) -> dict:
    response = await client.get(POLL, params={"vsn": "2.0.0", "token": token})
    return response.json()


async def post(client, token: str, *frames: str):
    return await client.post(
        POLL,
        params={"vsn": "2.0.0", "token": token},
        content="\n".join(frames),
        headers={"content-type": "application/x-ndjson"},
    )


async def test_join_push_and_broadcast_over_long_polls():
    async with AsyncTestClient(make_app(poll_window=WINDOW)) as client:
        token = await open_session(client, **{"x-phoenix-authtoken": "ada"})
        posted = await post(
            client,
            token,
            frame("1", "1", "room:a", "phx_join", {}),
            frame("1", "2", "room:a", "echo", {"n": 1}),
        )
        assert posted.json() == {"status": 200, "token": token}
        messages: list[list] = []
        for _ in range(30):  # bounded: the frames may come over more than one poll
            answer = await poll(client, token)
            messages += [json.loads(m) for m in answer.get("messages", [])]
            if len(messages) >= 3:
                break
        assert ["1", "1", "room:a", "phx_reply", {"status": "ok", "response": {"user": "ada"}}] in messages
        assert ["1", "2", "room:a", "phx_reply", {"status": "ok", "response": {"n": 1}}] in messages
        assert [None, None, "room:a", "echoed", {"n": 1}] in messages


async def test_a_poll_waits_for_frames_and_answers_204_after_the_window():
    async with AsyncTestClient(make_app(poll_window=SHORT)) as client:
        token = await open_session(client)
        assert await poll(client, token) == {"status": 204, "token": token}
    async with AsyncTestClient(make_app(poll_window=WINDOW)) as client:
        token = await open_session(client)
        # A poll already waiting gets the reply as soon as it is written.
        waiting = asyncio.ensure_future(poll(client, token))
        await asyncio.sleep(0.05)
        await post(client, token, frame("1", "1", "room:a", "phx_join", {}))
        answer = await asyncio.wait_for(waiting, 5)
        assert answer["status"] == 200
        assert json.loads(answer["messages"][0])[3] == "phx_reply"


async def test_a_session_whose_client_stopped_polling_ends_and_answers_410():
    app, socket = build(poll_window=SHORT)
    async with AsyncTestClient(app) as client:
        token = await open_session(client)
        await post(client, token, frame("1", "1", "room:expiring", "phx_join", {}))
        for _ in range(50):  # bounded wait, without polling, for the session to expire
            await asyncio.sleep(SHORT / 2)
            if token not in socket.sessions and not socket.tasks:
                break
        assert token not in socket.sessions and not socket.tasks  # the connection ended too
        assert "room:expiring" in ENDED  # and its channel with it
        gone = await post(client, token, frame(None, "1", "phoenix", "heartbeat", {}))
        assert gone.status_code == 410
        assert gone.headers["content-type"] == "application/problem+json"
        assert gone.json()["status"] == 410  # what phoenix.js reads
        # A poll with the old token opens a new session (phoenix.js then reconnects).
        reopened = await client.get(POLL, params={"token": token})
        assert reopened.json()["status"] == 410 and reopened.json()["token"] != token


def test_posts_without_a_live_session_answer_410_problems():
    client = TestClient(make_app())
    heartbeat = frame(None, "1", "phoenix", "heartbeat", {})
    for response in (
        client.post(POLL, params={"token": "forged"}, content=heartbeat),
        client.post(POLL, content=heartbeat),
    ):
        assert response.status_code == 410
        assert "long-poll session" in response.json()["detail"]


async def test_the_last_token_is_the_sessions_so_socket_params_may_have_one_too():
    async with AsyncTestClient(make_app(poll_window=WINDOW)) as client:
        # phoenix.js: new Socket("/socket", {params: {token: userToken}}), then &token=<session>
        opened = await client.get(POLL, params=[("token", "user-token"), ("vsn", "2.0.0")])
        token = opened.json()["token"]
        both = [("token", "user-token"), ("vsn", "2.0.0"), ("token", token)]
        await client.post(POLL, params=both, content=frame(None, "1", "phoenix", "heartbeat", {}))
        answer = (await client.get(POLL, params=both)).json()
        assert answer["status"] == 200 and answer["token"] == token


def test_a_refused_connect_answers_403_which_phoenix_reads_as_forbidden():
    client = TestClient(make_app())
    refused = client.get(POLL, headers={"x-phoenix-authtoken": "refuse"})
    assert refused.status_code == 403 and refused.json()["status"] == 403
    foreign = client.get(POLL, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403 and "not allowed" in foreign.json()["detail"]
    unknown = client.get(POLL, params={"vsn": "3.0.0"})
    assert unknown.status_code == 403 and "2.0.0" in unknown.json()["detail"]


async def test_oversized_and_malformed_frames_end_the_session_not_the_server():
    app = make_app(poll_window=WINDOW, limits=SocketLimits(max_message_size=100))
    async with AsyncTestClient(app) as client:
        token = await open_session(client)
        big = await post(client, token, frame(None, "1", "room:a", "echo", {"x": "y" * 200}))
        assert big.status_code == 413 and "100 bytes" in big.json()["detail"]
        assert (await post(client, token, "[]")).status_code == 410

        token = await open_session(client)
        assert (await post(client, token, "not a frame")).status_code == 200
        for _ in range(100):  # the connection closes on the bad frame; bounded wait
            gone = await post(client, token, "[]")
            if gone.status_code == 410:
                break
            await asyncio.sleep(0.05)
        assert gone.status_code == 410
        # The server is fine: a new session works.
        token = await open_session(client)
        await post(client, token, frame(None, "1", "phoenix", "heartbeat", {}))
        answer = await poll(client, token)
        assert json.loads(answer["messages"][0])[4] == {"status": "ok", "response": {}}


def test_long_poll_is_off_unless_asked_for_and_hidden_from_openapi():
    app = App(settings=Settings(profile="test"), plugins=[PubSubPlugin()])
    app.include(ChannelSocket("/socket", channels={"room:*": Echo}))
    client = TestClient(app)
    assert client.get(POLL).status_code == 404
    with TestClient(make_app()) as client:
        assert "/socket/longpoll" not in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("window", [0, -1.5])
def test_a_bad_window_fails_at_construction(window):
    with pytest.raises(ConfigurationError, match="poll_window"):
        ChannelSocket("/socket", channels={"room:*": Echo}, longpoll=True, poll_window=window)


def test_phoenix_token_reads_the_websocket_subprotocol_and_the_long_poll_header():
    encoded = base64.urlsafe_b64encode(b"ada's token").decode().rstrip("=")
    with TestClient(make_app()) as client:
        with client.websocket_connect(
            "/socket/websocket?vsn=2.0.0", subprotocols=["phoenix", f"base64url.bearer.phx.{encoded}"]
        ) as ws:
            ws.send_text(frame("1", "1", "room:a", "phx_join", {}))
            assert json.loads(ws.receive_text())[4]["response"] == {"user": "ada's token"}
        opened = client.get(POLL, headers={"x-phoenix-authtoken": "ada's token"})
        assert opened.json()["status"] == 410


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b"[1, 2",  # malformed JSON
        b'{"topic": "room:a"}',  # an object: the V2 serializer wants an array
        b"AAAA",  # base64 of a binary frame too short to be a push
        b"\n\n\n",
        b"[" * 5000 + b"]" * 5000,
    ],
)
async def test_hostile_posts_never_get_a_500(body):
    async with AsyncTestClient(make_app(poll_window=WINDOW)) as client:
        token = await open_session(client)
        response = await client.post(POLL, params={"token": token}, content=body)
        assert response.status_code in (200, 410, 413), response.text


def test_a_post_over_a_batch_of_messages_is_refused_with_413():
    with TestClient(make_app(limits=SocketLimits(max_message_size=100))) as client:
        token = client.get(POLL).json()["token"]
        response = client.post(POLL, params={"token": token}, content=b"[]\n" * 5000)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_binary_push_arrives_base64_encoded_as_phoenix_js_sends_it():
    async with AsyncTestClient(make_app(poll_window=WINDOW)) as client:
        token = await open_session(client)
        await post(client, token, frame("1", "1", "room:b", "phx_join", {}))
        header = b"".join(bytes([len(part)]) for part in (b"1", b"2", b"room:b", b"echo"))
        push = b"\x00" + header + b"12room:becho" + b"\x01\x02"
        posted = await post(client, token, base64.b64encode(push).decode())
        assert posted.status_code == 200
        messages: list = []
        for _ in range(30):
            messages += [json.loads(m) for m in (await poll(client, token)).get("messages", [])]
            if any(m[1] == "2" for m in messages):
                break
        # Echo's payload is a dict: the binary push is answered with an error reply, not a crash.
        [reply] = [m for m in messages if m[1] == "2"]
        assert reply[3] == "phx_reply" and reply[4]["status"] == "error"


async def test_a_flood_ends_the_session_and_the_post_does_not_hang():
    async with AsyncTestClient(make_app(poll_window=30)) as client:
        token = await open_session(client)
        flood = [frame(None, str(n), "phoenix", "heartbeat", {}) for n in range(400)]
        # Over the burst of 100: the connection closes for the rate limit, mid-post.
        response = await asyncio.wait_for(post(client, token, *flood), 10)
        assert response.status_code == 410


def test_the_sockets_routes_leave_the_apps_route_names_alone():
    app = make_app()  # the socket first: its routes must not take "poll" or "serve"

    @app.get("/polls/{poll_id}")
    async def poll(poll_id: int) -> dict:
        return {}

    @app.get("/serve")
    async def serve() -> dict:
        return {}

    assert app.url_path_for("poll", poll_id=3) == "/polls/3"
    assert app.url_path_for("serve") == "/serve"
    assert app.url_path_for("phoenix_socket_longpoll") == "/socket/longpoll"
