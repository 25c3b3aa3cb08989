from typing import Annotated

import msgspec
import pytest

from bastion import App, Query, Settings
from bastion.testing import TestClient, WebSocketDenied
from bastion.websockets import WebSocket, WebSocketDisconnect


class Move(msgspec.Struct):
    x: int
    y: int


def make_app() -> App:
    app = App(settings=Settings(profile="test"))

    @app.websocket("/echo/{room}")
    async def echo(websocket: WebSocket, room: str, token: str | None = None) -> None:
        await websocket.accept(subprotocol="chat" if "chat" in websocket.scope.get("subprotocols", []) else None)
        await websocket.send_json({"room": room, "token": token})
        async for text in websocket.iter_text():
            await websocket.send_text(text.upper())

    @app.websocket("/bytes")
    async def echo_bytes(websocket: WebSocket) -> None:
        await websocket.accept()
        data = await websocket.receive_bytes()
        await websocket.send_bytes(data[::-1])
        await websocket.close(code=4000, reason="done")

    @app.websocket("/moves")
    async def moves(websocket: WebSocket) -> None:
        await websocket.accept()
        move = await websocket.receive_json(Move)
        await websocket.send_json({"sum": move.x + move.y})

    @app.websocket("/private")
    async def private(websocket: WebSocket) -> None:
        await websocket.close(code=1008)

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


def test_text_echo_with_path_and_query_params():
    with TestClient(make_app()).websocket_connect("/echo/lobby?token=t1") as ws:
        assert ws.receive_json() == {"room": "lobby", "token": "t1"}
        ws.send_text("hello")
        assert ws.receive_text() == "HELLO"


def test_subprotocol_negotiation():
    with TestClient(make_app()).websocket_connect("/echo/a", subprotocols=["chat"]) as ws:
        assert ws.accepted_subprotocol == "chat"


def test_bytes_and_close_code():
    with TestClient(make_app()).websocket_connect("/bytes") as ws:
        ws.send_bytes(b"abc")
        assert ws.receive_bytes() == b"cba"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4000


def test_typed_json_decode():
    with TestClient(make_app()).websocket_connect("/moves") as ws:
        ws.send_json({"x": 1, "y": 2})
        assert ws.receive_json() == {"sum": 3}


@pytest.mark.parametrize("payload, code", [('{"x": "a", "y": 1}', 1008), ("{not json", 1007)])
def test_invalid_messages_close_with_a_code(payload, code):
    with TestClient(make_app()).websocket_connect("/moves") as ws:
        ws.send_text(payload)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == code


def test_close_before_accept_denies():
    with pytest.raises(WebSocketDenied) as denied:
        with TestClient(make_app()).websocket_connect("/private"):
            pass
    assert denied.value.code == 1008


def test_unknown_path_is_denied():
    with pytest.raises(WebSocketDenied):
        with TestClient(make_app()).websocket_connect("/nope"):
            pass


def test_typed_path_param():
    with TestClient(make_app()).websocket_connect("/numbers/5") as ws:
        assert ws.receive_json() == {"n": 5, "type": "int"}


def test_handler_error_closes_with_1011():
    with TestClient(make_app()).websocket_connect("/boom") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1011


def test_invalid_query_param_denies_with_policy_violation():
    with pytest.raises(WebSocketDenied) as denied:
        with TestClient(make_app()).websocket_connect("/limited?limit=0"):
            pass
    assert denied.value.code == 1008


def test_sending_before_accept_is_an_error_with_advice():
    import asyncio

    async def main():
        async def receive():
            return {"type": "websocket.connect"}

        async def send(message):
            pass

        ws = WebSocket({"type": "websocket", "headers": [], "path": "/"}, receive, send)
        with pytest.raises(RuntimeError, match="accept"):
            await ws.send_text("x")

    asyncio.run(main())


async def test_async_client_websocket():
    from bastion.testing import AsyncTestClient

    async with AsyncTestClient(make_app()) as client:
        async with client.websocket_connect("/echo/r") as ws:
            assert await ws.receive_json() == {"room": "r", "token": None}
            await ws.send_text("abc")
            assert await ws.receive_text() == "ABC"
