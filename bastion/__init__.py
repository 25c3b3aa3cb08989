"""Bastion: a batteries-included, fast, typed async Python backend framework.

from bastion import App

app = App()

@app.get("/hello/{name}")
async def hello(name: str) -> dict[str, str]:
    return {"message": f"Hello, {name}!"}
"""

from typing import TYPE_CHECKING, Any

from bastion.app import App
from bastion.config import Settings
from bastion.di.depends import Depends
from bastion.exceptions import (
    BadRequest,
    BastionError,
    ConfigurationError,
    Conflict,
    Forbidden,
    HTTPError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationError,
)
from bastion.http.background import BackgroundTasks
from bastion.http.negotiation import JSON_ENCODER, MSGPACK_ENCODER, Encoder
from bastion.http.request import Request
from bastion.http.response import (
    HTMLResponse,
    JSONResponse,
    ProblemResponse,
    RedirectResponse,
    Response,
    TextResponse,
)
from bastion.http.streaming import StreamingResponse
from bastion.middleware.base import ASGIMiddleware
from bastion.params.markers import Body, Cookie, File, Form, Header, Path, Query
from bastion.plugins import Plugin
from bastion.routing.router import Controller, Router, delete, get, patch, post, put, websocket
from bastion.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from bastion.routing.versioning import Version, Versioning, VersionRange

__all__ = [
    "App",
    "ASGIMiddleware",
    "BackgroundTasks",
    "BadRequest",
    "BastionError",
    "Body",
    "ConfigurationError",
    "Conflict",
    "Controller",
    "Cookie",
    "Depends",
    "Encoder",
    "File",
    "Forbidden",
    "Form",
    "HTMLResponse",
    "HTTPError",
    "Header",
    "JSONResponse",
    "JSON_ENCODER",
    "MSGPACK_ENCODER",
    "MethodNotAllowed",
    "NotFound",
    "Path",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Plugin",
    "ProblemResponse",
    "Query",
    "RedirectResponse",
    "Request",
    "Response",
    "Router",
    "Settings",
    "StreamingResponse",
    "TextResponse",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationError",
    "Version",
    "VersionRange",
    "Versioning",
    "WebSocket",
    "WebSocketDisconnect",
    "delete",
    "get",
    "patch",
    "post",
    "put",
    "websocket",
]

#: Exports imported when first used (PEP 562): most apps never version their API.
_LAZY = dict.fromkeys(("Version", "Versioning", "VersionRange"), "bastion.routing.versioning")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bastion' has no attribute {name!r}")
