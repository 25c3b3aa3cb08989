"""A tool call or resource read, made into a request to the app itself.

The call goes through the whole app, its middleware (rate limits, CORS, observability), the
route's dependencies and guards and the handler's own validation, exactly as the same route
reached over HTTP would; so an MCP client can do nothing the HTTP API does not allow, and a
refusal is the same problem document. The request carries the MCP request's headers
(``Authorization``, an API key) and client address, so identity and rate-limit keys are the
caller's. The app's answer is captured, bounded in size and time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import msgspec

from bastion.routing.route import Route, parse_path
from bastion.types import ASGIApp, Message, Scope

#: Scope key set on the requests this module makes; a client cannot send one.
MARK = "bastion.mcp"
# Headers of the MCP request that say nothing about the call it carries.
_DROPPED = frozenset(
    {
        b"content-length",
        b"content-type",
        b"accept",
        b"accept-encoding",
        b"transfer-encoding",
        b"connection",
        b"mcp-session-id",
        b"mcp-protocol-version",
        b"last-event-id",
    }
)


class BadArguments(Exception):
    """The arguments cannot make a request: the sentence says which and why."""


@dataclass(frozen=True)
class Target:
    """One route exposed as a tool or resource, and how its arguments become a request."""

    name: str
    route: Route
    method: str
    #: path parameter -> whether its value may hold slashes (the ``path`` converter)
    path_params: Mapping[str, bool]
    query_params: frozenset[str]
    body_name: str | None
    description: str = ""
    schema: dict[str, Any] = field(default_factory=dict)
    mime_type: str | None = None  # a resource's, when its route does not say
    output: dict[str, Any] | None = None  # a tool's structured result, when an object

    @property
    def arguments(self) -> frozenset[str]:
        body = {self.body_name} if self.body_name else set()
        return frozenset({*self.path_params, *self.query_params, *body})


@dataclass
class Captured:
    """What the app answered; ``overflow`` when the body went past the size limit."""

    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    overflow: bool = False
    timed_out: bool = False

    def header(self, name: bytes) -> str:
        return next((v.decode("latin-1") for k, v in self.headers if k == name), "")


def request_parts(target: Target, arguments: Mapping[str, Any]) -> tuple[str, bytes, bytes | None]:
    """The path, query string and JSON body for ``arguments``; ``BadArguments`` when they
    name something the route does not take or cannot be put in a URL."""
    unknown = sorted(set(arguments) - target.arguments)
    if unknown:
        takes = ", ".join(sorted(target.arguments)) or "no arguments"
        raise BadArguments(f"Unknown argument {', '.join(unknown)}; {target.name} takes {takes}")
    parts: list[str] = []
    for segment in parse_path(target.route.path):
        if segment[0] == "static":
            parts.append(segment[1])
            continue
        name = segment[1]
        if name not in arguments:
            raise BadArguments(f"Missing argument {name}: it is part of the path")
        parts.append(_path_value(name, arguments[name], target.path_params[name]))
    query: list[tuple[str, str]] = []
    for name in sorted(target.query_params & set(arguments)):
        value = arguments[name]
        if value is None:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            query.append((name, _scalar(name, item)))
    body = None
    if target.body_name is not None and target.body_name in arguments:
        body = msgspec.json.encode(arguments[target.body_name])
    return "/" + "/".join(parts), urlencode(query).encode("ascii"), body


def _path_value(name: str, value: Any, slashes: bool) -> str:
    text = _scalar(name, value)
    segments = text.split("/")
    if not text or (not slashes and len(segments) > 1) or any(s in (".", "..") for s in segments):
        # A slash or dot segment would make the request reach another route than this tool's.
        raise BadArguments(f"Argument {name} must be one path segment, not {text!r}")
    return text


def _scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadArguments(f"Argument {name} must be a string, number or boolean")


async def call(
    app: ASGIApp,
    outer: Scope,
    method: str,
    path: str,
    query: bytes,
    body: bytes | None,
    *,
    tool: str,
    time_limit: float,
    max_bytes: int,
) -> Captured:
    """Run one request through ``app`` and capture its answer."""
    headers = [(k, v) for k, v in outer.get("headers", ()) if k not in _DROPPED]
    headers.append((b"accept", b"application/json, */*;q=0.5"))
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": outer.get("scheme", "http"),
        "server": outer.get("server"),
        "client": outer.get("client"),
        "root_path": outer.get("root_path", ""),
        "path": path,
        "raw_path": quote(path).encode("ascii"),
        "query_string": query,
        "headers": headers,
        "state": {},
        MARK: tool,
    }
    captured = Captured()
    sent = False
    finished = anyio.Event()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}
        await finished.wait()  # as a server does: nothing more until the answer is done
        return {"type": "http.disconnect"}

    with anyio.move_on_after(time_limit) as deadline, anyio.CancelScope() as scope_guard:

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured.status = int(message["status"])
                captured.headers = list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                captured.body += message.get("body", b"")
                if len(captured.body) > max_bytes:
                    captured.overflow = True
                    del captured.body[max_bytes:]
                    scope_guard.cancel()
                if not message.get("more_body", False):
                    finished.set()

        await app(scope, receive, send)
    finished.set()
    captured.timed_out = deadline.cancelled_caught
    return captured
