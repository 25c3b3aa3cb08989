"""The WebSocket connection: its state machine, messages, typed JSON and close codes.

Most tests drive a ``WebSocket`` wrapped in a two-line raw ASGI app through the test client;
state checks use a hand-made peer. The last section runs it through a Bastion ``App``.
"""

from typing import Annotated

import msgspec
import pytest

from bastion import App, Query, Settings
from bastion.testing import TestClient, WebSocketDenied
from bastion.websockets import (
    WebSocket,
    WebSocketDataError,
    WebSocketDisconnect,
    WebSocketState,
    WSCloseCode,
)


class Move(msgspec.Struct):
    x: int
    y: int


def serve(handler, **client_options) -> TestClient:
    """A test client over a raw ASGI app that hands ``handler`` its WebSocket."""

    async def app(scope, receive, send):
        scope["app"] = "the-app"
        await handler(WebSocket(scope, receive, send, {"room": "r1"}))

    return TestClient(app, **client_options)


class Peer:
    """The server side, by hand: queued messages in, sent messages recorded."""

    def __init__(self, *incoming, send_error=None):
        self.incoming = [{"type": "websocket.connect"}, *incoming]
        self.sent = []
        self.send_error = send_error

    async def receive(self):
        if self.incoming:
            return self.incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1001}

    async def send(self, message):
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(message)

    def socket(self) -> WebSocket:
        scope = {"type": "websocket", "path": "/", "headers": [], "subprotocols": ["a"]}
        return WebSocket(scope, self.receive, self.send)


def text(data):
    return {"type": "websocket.receive", "text": data}


def binary(data):
    return {"type": "websocket.receive", "bytes": data}


# -- handshake -----------------------------------------------------------------------------


def test_accept_with_a_subprotocol_and_headers():
    async def handler(ws):
        await ws.accept(subprotocol=ws.subprotocols[-1], headers={"X-Room": "r1"})
        await ws.close()

    with serve(handler).websocket_connect("/", subprotocols=["v1", "v2"]) as session:
        assert session.accepted_subprotocol == "v2"
        assert session.accepted_headers["x-room"] == "r1"


def test_accepting_a_subprotocol_the_client_did_not_offer_is_an_error():
    async def handler(ws):
        await ws.accept(subprotocol="v9")

    with pytest.raises(RuntimeError, match="not offered by the client"):
        with serve(handler).websocket_connect("/", subprotocols=["v1"]):
            pass


async def test_accepting_twice_is_an_error():
    ws = Peer().socket()
    await ws.accept()
    with pytest.raises(RuntimeError, match="accept once"):
        await ws.accept()


def test_close_before_accept_denies_the_handshake():
    async def handler(ws):
        await ws.close(WSCloseCode.POLICY_VIOLATION, "token required")

    with pytest.raises(WebSocketDenied) as denied:
        with serve(handler).websocket_connect("/"):
            pass
    assert (denied.value.code, denied.value.reason) == (1008, "token required")


async def test_peer_leaving_during_the_handshake_raises_disconnect():
    peer = Peer()
    peer.incoming = [{"type": "websocket.disconnect", "code": 1001}]
    ws = peer.socket()
    with pytest.raises(WebSocketDisconnect) as left:
        await ws.accept()
    assert left.value.code == 1001
    assert ws.connection_state is WebSocketState.CLOSED


# -- wrong state ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda ws: ws.send_text("x"),
        lambda ws: ws.send_bytes(b"x"),
        lambda ws: ws.send_json({}),
        lambda ws: ws.receive_text(),
        lambda ws: ws.receive_json(),
    ],
)
async def test_sending_or_receiving_before_accept_says_to_accept(call):
    with pytest.raises(RuntimeError, match=r"Call `await websocket.accept\(\)` before"):
        await call(Peer().socket())


async def test_sending_after_close_says_the_socket_is_closed():
    ws = Peer().socket()
    await ws.accept()
    await ws.close(4000)
    with pytest.raises(RuntimeError, match="closed \\(code 4000\\)"):
        await ws.send_text("late")


async def test_close_is_sent_once():
    peer = Peer()
    ws = peer.socket()
    await ws.accept()
    await ws.close(4000, "done")
    await ws.close()
    closes = [m for m in peer.sent if m["type"] == "websocket.close"]
    assert closes == [{"type": "websocket.close", "code": 4000, "reason": "done"}]
    assert ws.accepted and ws.closed and ws.close_code == 4000


async def test_close_after_the_peer_left_sends_nothing():
    peer = Peer()
    ws = peer.socket()
    await ws.accept()
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    await ws.close()
    assert [m["type"] for m in peer.sent] == ["websocket.accept"]


async def test_a_long_close_reason_is_cut_to_123_bytes_on_a_character_boundary():
    peer = Peer()
    ws = peer.socket()
    await ws.accept()
    await ws.close(1000, "é" * 100)
    reason = peer.sent[-1]["reason"]
    assert len(reason.encode()) <= 123
    assert reason == "é" * 61


async def test_send_failing_because_the_peer_is_gone_is_a_disconnect():
    peer = Peer()
    ws = peer.socket()
    await ws.accept()
    peer.send_error = OSError("connection reset")
    with pytest.raises(WebSocketDisconnect) as lost:
        await ws.send_text("x")
    assert lost.value.code == 1006
    assert ws.closed


# -- messages ------------------------------------------------------------------------------


def test_text_bytes_and_json_round_trip():
    async def handler(ws):
        await ws.accept()
        await ws.send_text((await ws.receive_text()).upper())
        await ws.send_bytes((await ws.receive_bytes())[::-1])
        await ws.send_json({"got": await ws.receive_json()})
        await ws.send_json(Move(1, 2))

    with serve(handler).websocket_connect("/") as session:
        session.send_text("hi")
        assert session.receive_text() == "HI"
        session.send_bytes(b"abc")
        assert session.receive_bytes() == b"cba"
        session.send_json([1, "two"])
        assert session.receive_json() == {"got": [1, "two"]}
        assert session.receive_text() == '{"x":1,"y":2}'


@pytest.mark.parametrize("mode", ["text", "binary"])
def test_typed_json_is_decoded_into_the_type(mode):
    async def handler(ws):
        await ws.accept()
        move = await ws.receive_json(Move)
        await ws.send_json({"type": type(move).__name__, "sum": move.x + move.y})

    with serve(handler).websocket_connect("/") as session:
        session.send_json({"x": 2, "y": 3}, mode=mode)
        assert session.receive_json() == {"type": "Move", "sum": 5}


def bad_message_handler(errors, receive):
    async def handler(ws):
        await ws.accept()
        try:
            await receive(ws)
        except WebSocketDataError as exc:
            errors.append(exc)

    return handler


@pytest.mark.parametrize(
    "send, receive, code",
    [
        (lambda s: s.send_text("{not json"), lambda ws: ws.receive_json(), 1007),
        (lambda s: s.send_bytes(b'"\xff\xfe"'), lambda ws: ws.receive_json(), 1007),
        (lambda s: s.send_json({"x": "a", "y": 1}), lambda ws: ws.receive_json(Move), 1008),
        (lambda s: s.send_json({"x": 1}), lambda ws: ws.receive_json(Move), 1008),
        (lambda s: s.send_bytes(b"raw"), lambda ws: ws.receive_text(), 1003),
        (lambda s: s.send_text("txt"), lambda ws: ws.receive_bytes(), 1003),
    ],
    ids=["malformed", "not-utf8", "wrong-type", "missing-field", "binary-for-text", "text-for-bin"],
)
def test_bad_messages_close_with_a_code_and_raise(send, receive, code):
    errors = []
    with serve(bad_message_handler(errors, receive)).websocket_connect("/") as session:
        send(session)
        with pytest.raises(WebSocketDisconnect) as closed:
            session.receive_text()
    assert closed.value.code == code
    assert len(closed.value.reason.encode()) <= 123
    assert [e.code for e in errors] == [code]


def test_validation_reason_names_the_field():
    errors = []
    handler = bad_message_handler(errors, lambda ws: ws.receive_json(Move))
    with serve(handler).websocket_connect("/") as session:
        session.send_json({"x": 1, "y": "two"})
        with pytest.raises(WebSocketDisconnect) as closed:
            session.receive_text()
    assert "$.y" in closed.value.reason


def test_disconnect_carries_the_client_code():
    codes = []

    async def handler(ws):
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            codes.append((exc.code, exc.reason, ws.close_code))

    with serve(handler).websocket_connect("/") as session:
        session.close(4005, "gone")
    assert codes == [(4005, "gone", 4005)]


def test_iterators_end_when_the_client_leaves():
    seen = []

    async def handler(ws):
        await ws.accept()
        async for message in ws.iter_text():
            seen.append(message)
            if message == "binary next":
                break
        async for data in ws.iter_bytes():
            seen.append(data)
            if data == b"json next":
                break
        async for move in ws.iter_json(Move):
            seen.append(move)
        seen.append("ended")

    with serve(handler).websocket_connect("/") as session:
        session.send_text("a")
        session.send_text("binary next")
        session.send_bytes(b"json next")
        session.send_json({"x": 1, "y": 1})
    assert seen == ["a", "binary next", b"json next", Move(1, 1), "ended"]


# -- the handshake request -----------------------------------------------------------------


def test_connection_exposes_the_handshake_request():
    seen = {}

    async def handler(ws):
        ws.state.user = "ada"
        seen.update(
            header=ws.headers["x-token"],
            query=ws.query_params["page"],
            cookie=ws.cookies["sid"],
            path_params=ws.path_params,
            client=ws.client,
            path=ws.path,
            url=ws.url,
            subprotocols=ws.subprotocols,
            state=ws.state.user,
            app=ws.app,
        )
        await ws.accept()

    client = serve(handler, cookies={"sid": "s"})
    with client.websocket_connect("/chat?page=2", ["p"], headers={"X-Token": "t"}):
        pass
    assert seen == {
        "header": "t",
        "query": "2",
        "cookie": "s",
        "path_params": {"room": "r1"},
        "client": ("127.0.0.1", 50000),
        "path": "/chat",
        "url": "ws://testserver/chat?page=2",
        "subprotocols": ["p"],
        "state": "ada",
        "app": "the-app",
    }


def test_close_codes_are_the_rfc_numbers():
    assert [int(code) for code in WSCloseCode] == [1000, 1001, 1003, 1007, 1008, 1011, 1012]


# -- through a Bastion App -----------------------------------------------------------------


def make_app() -> App:
    app = App(settings=Settings(profile="test"))

    @app.websocket("/echo/{room}")
    async def echo(websocket: WebSocket, room: str, token: str | None = None) -> None:
        offered = websocket.subprotocols
        await websocket.accept(subprotocol="chat" if "chat" in offered else None)
        await websocket.send_json({"room": room, "token": token})
        async for text in websocket.iter_text():
            await websocket.send_text(text.upper())

    @app.websocket("/moves")
    async def moves(websocket: WebSocket) -> None:
        await websocket.accept()
        move = await websocket.receive_json(Move)
        await websocket.send_json({"sum": move.x + move.y})

    @app.websocket("/numbers/{n:int}")
    async def numbers(websocket: WebSocket, n: int) -> None:
        await websocket.accept()
        await websocket.send_json({"n": n, "type": type(n).__name__})

    @app.websocket("/boom")
    async def boom(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("handler failed")

    @app.websocket("/limited")
    async def limited(websocket: WebSocket, limit: Annotated[int, Query(ge=1)]) -> None:
        await websocket.accept()
        await websocket.send_json({"limit": limit})

    return app


def test_app_route_gets_path_and_query_params():
    with TestClient(make_app()).websocket_connect("/echo/lobby?token=t1", ["chat"]) as ws:
        assert ws.accepted_subprotocol == "chat"
        assert ws.receive_json() == {"room": "lobby", "token": "t1"}
        ws.send_text("hello")
        assert ws.receive_text() == "HELLO"


def test_app_route_typed_path_param():
    with TestClient(make_app()).websocket_connect("/numbers/5") as ws:
        assert ws.receive_json() == {"n": 5, "type": "int"}


@pytest.mark.parametrize("payload, code", [('{"x": "a", "y": 1}', 1008), ("{not json", 1007)])
def test_app_route_invalid_messages_close_with_a_code(payload, code):
    with TestClient(make_app()).websocket_connect("/moves") as ws:
        ws.send_text(payload)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == code


def test_app_unknown_path_is_denied():
    with pytest.raises(WebSocketDenied):
        with TestClient(make_app()).websocket_connect("/nope"):
            pass


def test_app_handler_error_closes_with_1011():
    with TestClient(make_app()).websocket_connect("/boom") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1011


def test_app_invalid_query_param_denies_with_policy_violation():
    with pytest.raises(WebSocketDenied) as denied:
        with TestClient(make_app()).websocket_connect("/limited?limit=0"):
            pass
    assert denied.value.code == 1008
