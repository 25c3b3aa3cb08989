"""The app of the slow-consumer tests under uvicorn: a channel room and a plain WebSocket
``forward``-ing the same topic, both allowed to fall 10 frames behind; a route that floods
the topic with large broadcasts, and one that counts the sockets still served."""

from bastion import App, Settings
from bastion.websockets import WebSocket
from bastion.websockets.channels import Channel, ChannelSocket, SocketLimits
from bastion.websockets.pubsub import PubSub, PubSubPlugin, forward


class Room(Channel):
    pass


def make_app() -> App:
    plugin = PubSubPlugin()
    app = App(settings=Settings(profile="test"), plugins=[plugin])
    limits = SocketLimits(outbound_queue=10)
    app.include(ChannelSocket("/socket", channels={"room:*": Room}, limits=limits))

    @app.post("/flood/{n:int}")
    async def flood(n: int, pubsub: PubSub) -> dict:
        for i in range(n):
            await pubsub.broadcast("room:slow", "big", {"i": i, "pad": "x" * 60_000}, history=False)
        return {"sent": n}

    feeds: set[WebSocket] = set()

    @app.websocket("/feed")
    async def feed(websocket: WebSocket, pubsub: PubSub) -> None:
        await websocket.accept()
        feeds.add(websocket)
        try:
            await websocket.send_text("joined")
            await forward(websocket, pubsub, "room:slow", outbound_queue=10)
        finally:
            feeds.discard(websocket)

    @app.get("/open")
    async def open_sockets() -> dict:
        return {"open": len(plugin.connections) + len(feeds)}

    return app
