"""The ceiling: a bare ASGI app keeping its sockets' send callables and awaiting each in turn."""

import json

from peers._fanout import wrap

clients = {}


async def websocket(scope, receive, send):
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    key = id(send)
    clients[key] = send
    await send({"type": "websocket.send", "text": "joined"})
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        clients.pop(key, None)


async def broadcast(payload):
    message = {"type": "websocket.send", "text": json.dumps(payload)}
    for key, send in list(clients.items()):
        try:
            await send(message)
        except Exception:
            clients.pop(key, None)


app = wrap(websocket, broadcast, lifespan=False)
