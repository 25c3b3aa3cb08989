"""python-socketio's ASGI server: each socket enters one room, broadcasts are emits to it."""

import socketio

from peers._fanout import TOPIC, wrap

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")


@sio.event
async def connect(sid, environ, auth=None):
    await sio.enter_room(sid, TOPIC)  # done before the client's CONNECT reply goes out


async def broadcast(payload):
    await sio.emit("tick", payload, room=TOPIC)


app = wrap(socketio.ASGIApp(sio), broadcast, lifespan=False)
