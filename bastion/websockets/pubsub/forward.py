"""``forward``: a plain WebSocket that receives a pub/sub topic's broadcasts, fast.

    @app.websocket("/ticker")
    async def ticker(websocket: WebSocket, pubsub: PubSub) -> None:
        await websocket.accept()
        await forward(websocket, pubsub, "prices")

Each broadcast goes out as the JSON text ``{"topic", "event", "payload"}``, encoded once for
every socket and written as channel sockets write (``bastion.websockets._direct.Writer``):
with no task or queue per socket while the client keeps up, and a client that falls
``outbound_queue`` frames behind is closed with 1008, so it never grows the server's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bastion.http.response import encode_json
from bastion.websockets._direct import CLOSE_TIMEOUT, Writer, direct_writer, framer_for
from bastion.websockets.pubsub.base import Message, PubSub
from bastion.websockets.websocket import WebSocket, WebSocketDisconnect, WSCloseCode

_WIRE = "bastion-json"


def as_json(message: Message) -> str:
    """What ``forward`` sends for a broadcast: ``{"topic", "event", "payload"}``."""
    return encode_json(
        {"topic": message.topic, "event": message.event, "payload": message.payload}
    ).decode()


async def forward(
    websocket: WebSocket,
    pubsub: PubSub,
    *topics: str,
    outbound_queue: int = 1_000,
    on_receive: Callable[[str | bytes], Awaitable[None]] | None = None,
) -> None:
    """Send every broadcast on ``topics`` to the accepted ``websocket`` until it closes.

    The client's own messages go to ``on_receive`` (ignored without one), one at a time;
    it may ``send_*`` on the socket too. Returns once the client has left or was closed.
    """
    if not websocket.accepted or websocket.closed:
        raise RuntimeError("Call `await websocket.accept()` before forward(websocket, ...)")
    if not topics:
        raise ValueError("forward(websocket, pubsub, *topics): name at least one topic")
    closing: set[asyncio.Task[None]] = set()
    reading: asyncio.Timeout | None = None

    def too_slow() -> None:
        task = asyncio.get_running_loop().create_task(_close_slow(websocket))
        closing.add(task)
        task.add_done_callback(closing.discard)
        if reading is not None:
            reading.reschedule(-1)  # stop waiting for the client: forward() returns

    send = websocket._send
    writer = Writer(
        lambda text: send({"type": "websocket.send", "text": text}),
        direct=direct_writer(send),
        framer=framer_for(_WIRE),
        limit=outbound_queue,
        on_lost=lambda: None,  # the server tells the reader, which returns
        on_full=too_slow,
    )

    def deliver(message: Message) -> None:
        writer.write(message.encoded(_WIRE, as_json))

    for topic in topics:
        await pubsub.subscribe(topic, deliver)
    try:
        while True:
            try:
                async with asyncio.timeout(None) as reading:
                    received = await websocket._receive_message()
            except (WebSocketDisconnect, RuntimeError, TimeoutError):
                return  # the client left, or the socket was closed (too slow)
            finally:
                reading = None
            if on_receive is not None:
                text = received.get("text")
                await on_receive(text if text is not None else bytes(received.get("bytes") or b""))
    finally:
        for topic in topics:
            await pubsub.unsubscribe(topic, deliver)
        await writer.stop()
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)


async def _close_slow(websocket: WebSocket) -> None:
    """Close with 1008, waiting at most ``CLOSE_TIMEOUT`` for a client that reads nothing."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await websocket.close(WSCloseCode.POLICY_VIOLATION, "Too slow: outbound queue full")
    except Exception:
        pass  # the server drops the socket once the handler returns
