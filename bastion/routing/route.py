"""What a route is: plain data gathered by decorators, compiled by the app at start-up."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from bastion.exceptions import ConfigurationError

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")


class RouteOptions(TypedDict, total=False):
    """Options shared by ``get``/``post``/… on apps, routers and controllers."""

    name: str
    status_code: int
    response_model: Any
    headers: Mapping[str, str]
    tags: Sequence[str]
    summary: str
    description: str
    dependencies: Sequence[Any]
    middleware: Sequence[Any]
    responses: Mapping[int, Any]
    deprecated: bool
    include_in_schema: bool
    operation_id: str
    max_body_size: int
    security: Sequence[Mapping[str, Sequence[str]]]
    #: API versions serving the route: a name, names, or a ``VersionRange`` (``versioning.py``).
    versions: Any


class _Named:
    path: str
    handler: Callable[..., Any]
    options: RouteOptions

    @property
    def name(self) -> str:
        """The ``name=`` option, else the handler's name (what ``url_for`` looks up)."""
        return self.options.get("name") or str(getattr(self.handler, "__name__", self.path))


@dataclass
class Route(_Named):
    """An HTTP endpoint: a path template, its methods and its handler."""

    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    options: RouteOptions = field(default_factory=lambda: RouteOptions())


@dataclass
class WebSocketRoute(_Named):
    """A WebSocket endpoint."""

    path: str
    handler: Callable[..., Any]
    options: RouteOptions = field(default_factory=lambda: RouteOptions())


@dataclass
class Mount:
    """Any ASGI app under a path prefix (sub-apps, static files)."""

    prefix: str
    app: Any
    name: str | None = None


Segment = tuple[Literal["static"], str] | tuple[Literal["param"], str, str]


def parse_path(path: str) -> list[Segment]:
    """``/users/{id:int}/posts`` → ``[static users, param id int, static posts]``."""
    if not path.startswith("/"):
        raise ConfigurationError(f"Route path {path!r} must start with '/'")
    segments: list[Segment] = []
    # "/a/" splits to ["a", ""]: the trailing slash is a segment of its own, so "/a" and "/a/"
    # are different routes and the trailing-slash policy decides between them.
    for part in path[1:].split("/"):
        match = _PARAM.fullmatch(part)
        if match:
            segments.append(("param", match.group(1), match.group(2) or ""))
        elif "{" in part or "}" in part:
            raise ConfigurationError(
                f"Route path {path!r}: segment {part!r} mixes text and a parameter; "
                "a parameter must be a whole segment like '{name}' or '{name:int}'"
            )
        else:
            segments.append(("static", part))
    return segments


def path_param_names(path: str) -> list[str]:
    return [m.group(1) for m in _PARAM.finditer(path)]
