"""Bastion plain WebSockets with the pub/sub: each socket subscribes to the topic and sends
every message's payload as JSON, written the way docs/websockets.md shows."""

import asyncio

from bastion import App, Settings
from bastion.websockets import WebSocket
from bastion.websockets.pubsub import Message, PubSub, PubSubPlugin
from peers._fanout import TOPIC, wrap

plugin = PubSubPlugin()
bastion = App(settings=Settings(profile="prod", secret_key="b" * 40), plugins=[plugin])


@bastion.websocket("/ws")
async def fanout(websocket: WebSocket, pubsub: PubSub) -> None:
    await websocket.accept()
    queue: asyncio.Queue[Message] = asyncio.Queue(1000)
    await pubsub.subscribe(TOPIC, queue.put_nowait)
    await websocket.send_text("joined")
    reader = asyncio.ensure_future(websocket.receive_text())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({reader, getter}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                return
            await websocket.send_json(getter.result().payload)
    finally:
        reader.cancel()
        await pubsub.unsubscribe(TOPIC, queue.put_nowait)


async def broadcast(payload):
    await plugin.pubsub.broadcast(TOPIC, "tick", payload, history=False)


app = wrap(bastion, broadcast)
