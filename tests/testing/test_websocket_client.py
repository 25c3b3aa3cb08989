"""The test client's WebSocket sessions, against raw ASGI apps speaking the protocol."""

import asyncio
import time

import pytest

from bastion.testing import AsyncTestClient, TestClient, WebSocketDenied
from bastion.websockets import WebSocketDisconnect


async def echo(scope, receive, send):
    """Accepts (with the first offered subprotocol), then echoes until the client leaves."""
    assert (await receive())["type"] == "websocket.connect"
    offered = scope["subprotocols"]
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": offered[0] if offered else None,
            "headers": [(b"x-accepted", b"yes")],
        }
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close please":
            await send({"type": "websocket.close", "code": 4001, "reason": "as asked"})
            return
        reply = {"type": "websocket.send"}
        if message.get("text") is not None:
            reply["text"] = message["text"]
        else:
            reply["bytes"] = message["bytes"]
        await send(reply)


def scope_reporter(scope_out):
    async def app(scope, receive, send):
        scope_out.update(scope)
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    return app


async def accept_then(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})


# -- the exchange --------------------------------------------------------------------------


def test_text_messages_echo():
    with TestClient(echo).websocket_connect("/ws") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "hello"


def test_binary_messages_echo():
    with TestClient(echo).websocket_connect("/ws") as ws:
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_bytes() == b"\x00\x01"


@pytest.mark.parametrize("mode", ["text", "binary"])
def test_json_round_trips_as_text_or_binary(mode):
    with TestClient(echo).websocket_connect("/ws") as ws:
        ws.send_json({"a": [1, 2]}, mode=mode)
        message = ws.receive()
        assert ("text" if mode == "text" else "bytes") in message
        ws.send_json({"b": None}, mode=mode)
        assert ws.receive_json() == {"b": None}


def test_receive_text_of_a_binary_message_names_the_right_method():
    with TestClient(echo).websocket_connect("/ws") as ws:
        ws.send_bytes(b"x")
        with pytest.raises(TypeError, match="receive_bytes"):
            ws.receive_text()


def test_subprotocols_are_offered_and_the_chosen_one_reported():
    with TestClient(echo).websocket_connect("/ws", subprotocols=["v2", "v1"]) as ws:
        assert ws.accepted_subprotocol == "v2"
        assert ws.scope["subprotocols"] == ["v2", "v1"]
        assert dict(ws.scope["headers"])[b"sec-websocket-protocol"] == b"v2, v1"


def test_accept_headers_are_exposed():
    with TestClient(echo).websocket_connect("/ws") as ws:
        assert ws.accepted_headers["x-accepted"] == "yes"
        assert ws.accepted_subprotocol is None


def test_handshake_scope_carries_path_query_headers_and_cookies():
    scope = {}
    client = TestClient(scope_reporter(scope), headers={"x-client": "c"}, cookies={"sid": "1"})
    with client.websocket_connect("/rooms/caf%C3%A9?token=t", headers={"x-extra": "e"}):
        pass
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/rooms/café"
    assert scope["query_string"] == b"token=t"
    assert headers["upgrade"] == "websocket"
    assert headers["sec-websocket-version"] == "13"
    assert headers["x-client"] == "c"
    assert headers["x-extra"] == "e"
    assert headers["cookie"] == "sid=1"


def test_https_base_url_gives_a_wss_scope():
    scope = {}
    with TestClient(scope_reporter(scope), base_url="https://example.org").websocket_connect("/"):
        pass
    assert scope["scheme"] == "wss"
    assert scope["server"] == ("example.org", 443)


def test_lifespan_state_reaches_the_websocket_scope():
    scope = {}
    reporter = scope_reporter(scope)

    async def app(s, receive, send):
        if s["type"] == "lifespan":
            await receive()
            s["state"]["ready"] = True
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        else:
            await reporter(s, receive, send)

    with TestClient(app) as client, client.websocket_connect("/"):
        pass
    assert scope["state"] == {"ready": True}


# -- closing -------------------------------------------------------------------------------


def test_app_close_code_and_reason_reach_the_test():
    with TestClient(echo).websocket_connect("/ws") as ws:
        ws.send_text("close please")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (4001, "as asked")
        with pytest.raises(WebSocketDisconnect):  # and stays closed
            ws.receive_text()


def test_app_returning_after_accept_closes_with_1000():
    with TestClient(accept_then).websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1000


def test_client_close_code_reaches_the_app():
    seen = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())

    with TestClient(app).websocket_connect("/") as ws:
        ws.close(code=4002, reason="bye")
    assert seen == [{"type": "websocket.disconnect", "code": 4002, "reason": "bye"}]


def test_leaving_the_block_disconnects_with_1000():
    seen = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        seen.append((await receive())["code"])

    with TestClient(app).websocket_connect("/"):
        pass
    assert seen == [1000]


def test_sending_after_the_test_closed_is_an_error():
    with TestClient(echo).websocket_connect("/ws") as ws:
        ws.close()
        with pytest.raises(RuntimeError, match="closed by the test"):
            ws.send_text("late")


def test_app_sending_after_the_test_left_does_not_fail_the_test():
    async def chatty(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        while True:  # never receives; its send fails once the client is gone
            await send({"type": "websocket.send", "text": "tick"})
            await asyncio.sleep(0.001)

    with TestClient(chatty).websocket_connect("/") as ws:
        assert ws.receive_text() == "tick"


# -- refusal and errors ----------------------------------------------------------------------


def test_close_before_accept_is_denied_with_its_code():
    async def app(scope, receive, send):
        await send({"type": "websocket.close", "code": 1008, "reason": "no token"})

    with pytest.raises(WebSocketDenied) as denied:
        with TestClient(app).websocket_connect("/"):
            pass
    assert (denied.value.code, denied.value.reason) == (1008, "no token")


def test_app_returning_without_accepting_is_denied():
    async def app(scope, receive, send):
        await receive()

    with pytest.raises(WebSocketDenied) as denied:
        TestClient(app).websocket_connect("/").__enter__()
    assert denied.value.code == 1006


async def failing_before_accept(scope, receive, send):
    await receive()
    raise LookupError("no such room")


def test_exception_before_accept_is_reraised():
    with pytest.raises(LookupError, match="no such room"):
        with TestClient(failing_before_accept).websocket_connect("/"):
            pass


def test_exception_before_accept_is_a_denial_when_not_reraised():
    client = TestClient(failing_before_accept, raise_server_exceptions=False)
    with pytest.raises(WebSocketDenied) as denied:
        with client.websocket_connect("/"):
            pass
    assert denied.value.code == 1011


async def failing_after_accept(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    raise ZeroDivisionError("handler bug")


def test_exception_after_accept_is_reraised_on_receive():
    with TestClient(failing_after_accept).websocket_connect("/") as ws:
        ws.send_text("go")
        with pytest.raises(ZeroDivisionError, match="handler bug"):
            ws.receive_text()


def test_exception_after_accept_is_reraised_when_leaving_the_block():
    with pytest.raises(ZeroDivisionError):
        with TestClient(failing_after_accept).websocket_connect("/") as ws:
            ws.send_text("go")


def test_exception_after_accept_closes_with_1011_when_not_reraised():
    client = TestClient(failing_after_accept, raise_server_exceptions=False)
    with client.websocket_connect("/") as ws:
        ws.send_text("go")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1011


def test_app_sending_before_accept_gets_a_protocol_error():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.send", "text": "too early"})

    with pytest.raises(RuntimeError, match="before accepting"):
        with TestClient(app).websocket_connect("/"):
            pass


# -- timeouts ------------------------------------------------------------------------------


def test_receive_times_out_instead_of_hanging():
    started = time.monotonic()
    with TestClient(echo).websocket_connect("/", timeout=0.2) as ws:
        with pytest.raises(TimeoutError, match="did not send a message within 0.2 s"):
            ws.receive_text()
    assert time.monotonic() - started < 2


def test_handshake_times_out_when_the_app_never_answers():
    async def mute(scope, receive, send):
        await asyncio.sleep(60)

    started = time.monotonic()
    with pytest.raises(TimeoutError, match="accept or close"):
        with TestClient(mute, websocket_timeout=0.2).websocket_connect("/"):
            pass
    assert time.monotonic() - started < 2


def test_app_ignoring_the_disconnect_is_cancelled_on_exit():
    cancelled = []

    async def stubborn(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    started = time.monotonic()
    with TestClient(stubborn).websocket_connect("/"):
        pass
    assert time.monotonic() - started < 2
    assert cancelled == [True]


# -- async sessions ------------------------------------------------------------------------


async def test_async_session_echoes():
    async with AsyncTestClient(echo).websocket_connect("/ws", subprotocols=["chat"]) as ws:
        assert ws.accepted_subprotocol == "chat"
        await ws.send_json({"n": 1})
        assert await ws.receive_json() == {"n": 1}
        await ws.send_bytes(b"b")
        assert await ws.receive_bytes() == b"b"


async def test_async_session_denied():
    async def app(scope, receive, send):
        await send({"type": "websocket.close", "code": 4003})

    with pytest.raises(WebSocketDenied) as denied:
        async with AsyncTestClient(app).websocket_connect("/"):
            pass
    assert denied.value.code == 4003


async def test_async_session_times_out():
    async with AsyncTestClient(echo).websocket_connect("/", timeout=0.1) as ws:
        with pytest.raises(TimeoutError):
            await ws.receive_text()
