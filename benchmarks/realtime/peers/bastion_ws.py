"""Bastion plain WebSockets with the pub/sub: each socket forwards the topic's broadcasts
(``bastion.websockets.pubsub.forward``, as docs/channels.md shows), as JSON
``{"topic", "event", "payload"}``."""

from bastion import App, Settings
from bastion.websockets import WebSocket
from bastion.websockets.pubsub import PubSub, PubSubPlugin, forward
from peers._fanout import TOPIC, wrap

plugin = PubSubPlugin()
bastion = App(settings=Settings(profile="prod", secret_key="b" * 40), plugins=[plugin])


@bastion.websocket("/ws")
async def fanout(websocket: WebSocket, pubsub: PubSub) -> None:
    await websocket.accept()
    await websocket.send_text("joined")  # forward() subscribes next, before anything awaits
    await forward(websocket, pubsub, TOPIC)


async def broadcast(payload):
    await plugin.pubsub.broadcast(TOPIC, "tick", payload, history=False)


app = wrap(bastion, broadcast)
