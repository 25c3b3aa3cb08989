"""WebSocket connections (channels and presence build on these)."""

from bastion.websockets.websocket import (
    WebSocket,
    WebSocketDataError,
    WebSocketDisconnect,
    WebSocketState,
    WSCloseCode,
)

__all__ = [
    "WSCloseCode",
    "WebSocket",
    "WebSocketDataError",
    "WebSocketDisconnect",
    "WebSocketState",
]
