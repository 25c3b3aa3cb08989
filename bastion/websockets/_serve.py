"""Serving one WebSocket connection: route lookup, the handler, and closing after errors."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bastion.di.container import teardown
from bastion.exceptions import HTTPError
from bastion.http.request import Request
from bastion.types import Endpoint, Receive, Scope, Send
from bastion.websockets.websocket import (
    WebSocket,
    WebSocketDataError,
    WebSocketDisconnect,
    WSCloseCode,
)

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.routing._tree import RouteTree

logger = logging.getLogger("bastion.error")


async def serve_websocket(
    app: App[Any], tree: RouteTree[Endpoint], scope: Scope, receive: Receive, send: Send
) -> None:
    """Run the route's compiled endpoint; an unknown path rejects the handshake."""
    match = tree.find(scope["path"])
    if match is None:
        await send({"type": "websocket.close", "code": 1000, "reason": "No such endpoint"})
        return
    endpoints, params = match
    websocket = WebSocket(scope, receive, send, params)
    scope["bastion.websocket"] = websocket
    request = Request(scope, receive, params, app.settings.max_body_size)
    error: Exception | None = None
    try:
        await endpoints["WS"](request)
    except (WebSocketDisconnect, WebSocketDataError):
        pass  # the peer left, or a bad message already closed the socket
    except Exception as exc:
        error = exc
        await _close_after_error(websocket, exc)
    finally:
        if request.cleanup is not None:
            await teardown(request, error)


async def _close_after_error(websocket: WebSocket, exc: Exception) -> None:
    """1008 for request errors (bad parameters, refused auth), 1011 for bugs (logged)."""
    if isinstance(exc, HTTPError):
        code, reason = WSCloseCode.POLICY_VIOLATION, exc.detail[:120]
    else:
        logger.error("Unhandled error in WebSocket handler", exc_info=exc)
        code, reason = WSCloseCode.INTERNAL_ERROR, "Internal error"
    try:
        await websocket.close(code=code, reason=reason)
    except Exception:
        pass  # the connection is already gone
