"""What the marked routes are as MCP tools and resources, found once at start-up.

Each marked handler's route is looked up among the app's compiled routes and described from
the app's OpenAPI document: its name, its description, its input schema (``_schema.py``) and
how its arguments map onto path, query and body (``_dispatch.Target``). Every mistake (a mark
on no route, two tools of one name, a resource that needs a body) is a ``ConfigurationError``
here, before the first call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import mcp_types as types

from bastion.ai.mcp._dispatch import Target
from bastion.ai.mcp._schema import input_schema, operation_of, output_schema
from bastion.exceptions import ConfigurationError
from bastion.routing._endpoint import CompiledRoute
from bastion.routing.route import Route, parse_path

if TYPE_CHECKING:
    from bastion.app import App

#: The names MCP allows a tool.
NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@dataclass(frozen=True)
class Mark:
    """What ``@mcp.tool()`` / ``@mcp.resource()`` said of a handler."""

    kind: str  # "tool" or "resource"
    name: str | None
    description: str | None
    mime_type: str | None = None


def discover(
    app: App[Any], marks: dict[Callable[..., Any], Mark]
) -> tuple[dict[str, Target], dict[str, Target]]:
    """The tools and the resources, by name."""
    from bastion.openapi.document import build_document

    document = build_document(app)
    components = document.get("components", {}).get("schemas", {})
    tools: dict[str, Target] = {}
    resources: dict[str, Target] = {}
    found: set[Callable[..., Any]] = set()
    for compiled in app.compiled:
        route = compiled.route
        if not isinstance(route, Route) or route.handler in found:
            continue
        mark = marks.get(route.handler)
        if mark is None:
            continue
        found.add(route.handler)
        target = _target(app, compiled, route, mark, document, components)
        table = tools if mark.kind == "tool" else resources
        if target.name in table:
            raise ConfigurationError(
                f"Two routes are the MCP {mark.kind} {target.name!r}; name one of them "
                f"with @mcp.{mark.kind}(name=...)"
            )
        table[target.name] = target
    lost = [h.__qualname__ for h in marks if h not in found]
    if lost:
        raise ConfigurationError(
            f"@mcp.tool()/@mcp.resource() marks {', '.join(sorted(lost))}, which no route "
            "serves; decorate it with @app.get/post(...) (or a router's) as well, or make "
            "a plain function a tool with @mcp.function()"
        )
    return tools, resources


def _target(
    app: App[Any],
    compiled: CompiledRoute,
    route: Route,
    mark: Mark,
    document: dict[str, Any],
    components: dict[str, Any],
) -> Target:
    method = route.methods[0]
    where = f"MCP {mark.kind} for route {method} {route.path}"
    if mark.kind == "resource" and method != "GET":
        raise ConfigurationError(f"{where}: a resource is read with GET; make it a tool")
    operation = operation_of(document, route.path, method, where)
    body = compiled.plan.body
    body_name = body.name if body is not None and body.location == "body" else None
    schema = input_schema(operation, body_name, components, where)
    parameters = operation.get("parameters", ())
    query = frozenset(p["name"] for p in parameters if p["in"] == "query")
    if mark.kind == "resource":
        needed = [p["name"] for p in parameters if p["in"] == "query" and p.get("required")]
        if needed or body_name is not None:
            raise ConfigurationError(
                f"{where}: a resource is named by its URI alone, but the route needs "
                f"{', '.join(needed) or 'a body'}; make it a tool"
            )
    path_converter = app.converters["path"]
    path_params = {
        name: converter is path_converter for name, converter in compiled.converters.items()
    }
    name = mark.name or route.name
    if not NAME.fullmatch(name):
        raise ConfigurationError(
            f"{where}: {name!r} is not a valid {mark.kind} name; give one with "
            f"@mcp.{mark.kind}(name=...)"
        )
    text = mark.description or "\n\n".join(
        part for part in (operation.get("summary"), operation.get("description")) if part
    )
    output = output_schema(operation, components) if mark.kind == "tool" else None
    return Target(
        name, route, method, path_params, query, body_name, text, schema, mark.mime_type, output
    )


def resource_uri(target: Target, scheme: str) -> str:
    """``app://orders/{order_id}/receipt`` for ``GET /orders/{order_id:int}/receipt``."""
    template = re.sub(r"{(\w+):\w+}", r"{\1}", target.route.path)
    return f"{scheme}://{template.lstrip('/')}"


def tool_of(target: Target) -> types.Tool:
    """The tool as ``tools/list`` shows it; the hints follow from the HTTP method."""
    method = target.method
    hints = types.ToolAnnotations(
        read_only_hint=method == "GET",
        destructive_hint=method == "DELETE",
        idempotent_hint=method in ("GET", "PUT", "DELETE"),
        open_world_hint=False,
    )
    return types.Tool(
        name=target.name,
        description=target.description or None,
        input_schema=target.schema,
        output_schema=target.output,
        annotations=hints,
    )


def match_uri(template: str, uri: str) -> dict[str, str] | None:
    """The template's variables in ``uri`` (each one segment, percent-decoded), or None."""
    pattern = ""
    for segment in parse_path("/" + template.split("://", 1)[1]):
        if segment[0] == "static":
            pattern += "/" + re.escape(segment[1])
        else:
            pattern += f"/(?P<{segment[1]}>[^/]+)"
    scheme = template.split("://", 1)[0]
    found = re.fullmatch(re.escape(scheme + ":/") + pattern, uri)
    if found is None:
        return None
    return {name: unquote(value) for name, value in found.groupdict().items()}
