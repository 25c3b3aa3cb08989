"""Testing tools: in-process clients for HTTP and WebSockets, and a pytest plugin."""

from bastion.testing.client import AsyncTestClient, TestClient
from bastion.testing.websocket import AsyncWebSocketSession, WebSocketDenied, WebSocketSession

__all__ = [
    "AsyncTestClient",
    "AsyncWebSocketSession",
    "TestClient",
    "WebSocketDenied",
    "WebSocketSession",
]
