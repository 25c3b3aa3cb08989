"""WebSocket connections (channels and presence build on these)."""

from bastion.websockets.websocket import (
    WebSocket,
    WebSocketDataError,
    WebSocketDisconnect,
    WSCloseCode,
)

__all__ = ["WSCloseCode", "WebSocket", "WebSocketDataError", "WebSocketDisconnect"]
