"""A tool's input schema, taken from the app's own OpenAPI document.

The OpenAPI operation of a route already says, from the handler's annotations, what its path
and query parameters and its JSON body must be; a tool's ``inputSchema`` is that, gathered
into one object: each path and query parameter a property of its own, and the body a
property named after the handler's body parameter. Reading the document, rather than the
annotations a second time, keeps the two descriptions from ever drifting apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bastion.exceptions import ConfigurationError

_REF = "#/components/schemas/"
_CONVERTER = re.compile(r"{(\w+):\w+}")


def openapi_path(path: str) -> str:
    """``/orders/{id:int}`` as the document spells it: ``/orders/{id}``."""
    return _CONVERTER.sub(r"{\1}", path)


def operation_of(document: dict[str, Any], path: str, method: str, where: str) -> dict[str, Any]:
    operation = document.get("paths", {}).get(openapi_path(path), {}).get(method.lower())
    if operation is None:
        raise ConfigurationError(
            f"{where}: the route is not in the OpenAPI document (include_in_schema=False?), so "
            "it has no schema to give its tool; include it, or expose another route"
        )
    return dict(operation)


def input_schema(
    operation: dict[str, Any], body_name: str | None, components: dict[str, Any], where: str
) -> dict[str, Any]:
    """The JSON Schema of the tool's ``arguments`` object."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in operation.get("parameters", ()):
        if parameter["in"] not in ("path", "query"):
            continue  # headers and cookies come from the MCP request itself
        prop = dict(parameter.get("schema", {}))
        if "description" in parameter and "description" not in prop:
            prop["description"] = parameter["description"]
        properties[parameter["name"]] = prop
        if parameter.get("required"):
            required.append(parameter["name"])
    body = operation.get("requestBody")
    if body is not None:
        content = body.get("content", {})
        if "application/json" not in content or body_name is None:
            raise ConfigurationError(
                f"{where}: the route takes a {next(iter(content), 'non-JSON')} body; a tool's "
                "arguments are JSON, so expose a route whose body is a JSON type"
            )
        if body_name in properties:
            raise ConfigurationError(
                f"{where}: the body parameter {body_name!r} has the name of a path or query "
                "parameter; rename one of them so each argument names one thing"
            )
        properties[body_name] = content["application/json"].get("schema", {})
        if body.get("required"):
            required.append(body_name)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    schema = dict(_relinked(schema))
    defs = _referenced(schema, components)
    if defs:
        schema["$defs"] = defs
    return schema


def _relinked(value: Any) -> Any:
    """A copy with ``#/components/schemas/X`` references pointing at ``#/$defs/X``."""
    if isinstance(value, dict):
        return {
            key: (
                "#/$defs/" + item[len(_REF) :]
                if key == "$ref" and isinstance(item, str) and item.startswith(_REF)
                else _relinked(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_relinked(item) for item in value]
    return value


def _referenced(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The components the schema refers to, at any depth, relinked the same way."""
    found: dict[str, Any] = {}
    todo = list(_refs(schema))
    while todo:
        name = todo.pop()
        if name in found or name not in components:
            continue
        found[name] = _relinked(components[name])
        todo.extend(_refs(found[name]))
    return dict(sorted(found.items()))


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/"):
                yield item[len("#/$defs/") :]
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def output_schema(operation: dict[str, Any], components: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of the route's JSON success answer, when it is an object (MCP's
    ``structuredContent`` must be one); None otherwise, and the tool declares no output."""
    for status, response in sorted(operation.get("responses", {}).items()):
        if not str(status).startswith("2"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if not isinstance(schema, dict):
            return None
        ref = schema.get("$ref")
        target = components.get(ref[len(_REF) :], {}) if isinstance(ref, str) else schema
        if target.get("type") != "object":
            return None
        result: dict[str, Any] = {"type": "object", **_relinked(schema)}  # MCP wants a type
        defs = _referenced(result, components)
        if defs:
            result["$defs"] = defs
        return result
    return None
