"""Starlette with the broadcast loop one writes by hand: a set of sockets, send_text to each."""

import json

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from peers._fanout import wrap

clients = set()


async def endpoint(websocket):
    await websocket.accept()
    clients.add(websocket)
    await websocket.send_text("joined")
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        clients.discard(websocket)


async def broadcast(payload):
    text = json.dumps(payload)
    for websocket in list(clients):
        try:
            await websocket.send_text(text)
        except Exception:
            clients.discard(websocket)


app = wrap(Starlette(routes=[WebSocketRoute("/ws", endpoint)]), broadcast)
