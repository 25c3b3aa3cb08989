"""The OpenAPI 3.1 document, built from what the app compiled at start-up."""

from __future__ import annotations

import inspect
import re
import types
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol, Union, get_args, get_origin, runtime_checkable

import msgspec

from bastion.di.depends import Depends
from bastion.http.response import RedirectResponse, Response
from bastion.openapi.schema import REF, Schemas
from bastion.params import _types as t
from bastion.params._extract import sent_type, target_type
from bastion.params._plan import ParamInfo, Plan
from bastion.routing._endpoint import CompiledRoute, _return_type
from bastion.routing.route import Route

if TYPE_CHECKING:
    from bastion.app import App

_CONVERTER = re.compile(r"{(\w+):\w+}")
Requirement = dict[str, list[str]]


@runtime_checkable
class DeclaresSecurity(Protocol):
    """A dependency that enforces authentication (``bastion.auth``'s guards) names the
    security requirements of every operation that uses it: alternatives, ``{}`` meaning
    anonymous access is allowed."""

    def openapi_security(self, app: App[Any]) -> list[Requirement]: ...

    def openapi_refusals(self) -> set[int]:
        """The statuses it answers with: 401 (no or bad credentials), 403 (not allowed)."""
        ...


_PROBLEM = {"application/problem+json": {"schema": {"$ref": REF.format(name="Problem")}}}
_LOCATION = {"description": "Where the client goes next", "schema": {"type": "string"}}


def build_document(app: App[Any], version: str | None = None) -> dict[str, Any]:
    """The whole document; ``/openapi.json`` serves it and ``bastion openapi`` prints it.

    With API versioning, the document of one version (its default when None): the
    version-neutral routes and those serving that version."""
    app._ensure_built()
    versioning = app.versioning
    if versioning is not None and version is None:
        version = versioning.default
    schemas = Schemas()
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for compiled in app.compiled:
        route = compiled.route
        if not isinstance(route, Route):
            continue
        # Pages (templates, form posts that redirect) are for browsers, not API clients.
        if not route.options.get("include_in_schema", not _is_page(compiled)):
            continue
        versions = route.options.get("versions")
        if versioning is not None and versions is not None and version not in versions:
            continue
        path = _CONVERTER.sub(r"{\1}", route.path)
        for method in route.methods:
            operation = _operation(compiled, method, schemas, operation_ids, app)
            if versioning is not None and versions is not None:
                _versioned(operation, versioning, version or "")
            paths.setdefault(path, {})[method.lower()] = operation
    info: dict[str, Any] = {"title": app.title, "version": app.version}
    if versioning is not None and version is not None:
        info["version"] = version
        info["description"] = "\n\n".join(
            filter(None, [app.description, f"API version {version}: {versioning.how(version)}."])
        )
    if app.description:
        info["description"] = app.description
    document: dict[str, Any] = {"openapi": "3.1.0", "info": info, "paths": paths}
    components: dict[str, Any] = {"schemas": schemas.resolve()}
    if app.security_schemes:
        components["securitySchemes"] = app.security_schemes
    document["components"] = components
    if app.openapi_tags:
        document["tags"] = app.openapi_tags
    if app.negotiation is not None:
        app.negotiation.document(document)
    return document


def _versioned(operation: dict[str, Any], versioning: Any, version: str) -> None:
    """A versioned operation: deprecated with its version, and the version header it needs
    (header strategy; the prefix is in its path, the media type in the description)."""
    if versioning.by_name[version].deprecated is not None:
        operation["deprecated"] = True
    if versioning.by == "header":
        header = {
            "name": versioning.header,
            "in": "header",
            "required": version != versioning.default,
            "schema": {"type": "string", "enum": [version], "default": version},
            "description": f"The API version; {versioning.default} when absent",
        }
        operation["parameters"] = [header, *operation.get("parameters", ())]


def _operation(
    compiled: CompiledRoute, method: str, schemas: Schemas, ids: set[str], app: App[Any]
) -> dict[str, Any]:
    route = compiled.route
    options = route.options
    name = getattr(route.handler, "__name__", "operation")
    doc = inspect.getdoc(route.handler) or ""
    first, _, rest = doc.partition("\n")
    operation: dict[str, Any] = {
        "operationId": _unique(options.get("operation_id") or _operation_id(name, route), ids),
        "summary": options.get("summary") or first.strip() or name.replace("_", " ").capitalize(),
    }
    description = options.get("description") or rest.strip()
    if description:
        operation["description"] = description
    if options.get("tags"):
        operation["tags"] = list(dict.fromkeys(options["tags"]))
    if options.get("deprecated"):
        operation["deprecated"] = True
    guards = _guards(compiled)
    if options.get("security") is not None:
        operation["security"] = [dict(s) for s in options["security"]]
    elif guards:
        operation["security"] = _merged_security(guards, app)

    params = _all_params(compiled.plan)
    parameters = [
        _parameter(p, compiled, schemas)
        for p in params
        if p.location in ("path", "query", "header", "cookie") and _shown(p)
    ]
    if parameters:
        operation["parameters"] = parameters
    bodies = [p for p in params if p.location in ("body", "form")]
    if bodies:
        operation["requestBody"] = _request_body(bodies, schemas)
    operation["responses"] = _responses(
        compiled,
        method,
        schemas,
        bool(parameters or bodies),
        bool(bodies),
        bool(compiled.converters),
        set().union(*(guard.openapi_refusals() for guard in guards)),
    )
    return operation


def _guards(compiled: CompiledRoute) -> list[DeclaresSecurity]:
    """The route's dependencies, at any depth, that enforce authentication."""
    declaring = [
        d.dependency
        for d in compiled.route.options.get("dependencies", ())
        if isinstance(d, Depends) and isinstance(d.dependency, DeclaresSecurity)
    ]
    steps = list(compiled.plan.dependencies)
    while steps:
        step = steps.pop(0)
        if isinstance(step.fn, DeclaresSecurity):
            declaring.append(step.fn)
        steps.extend(step.plan.dependencies)
    return list({id(fn): fn for fn in declaring}.values())


def _merged_security(guards: list[DeclaresSecurity], app: App[Any]) -> list[Requirement]:
    """The guards' requirements merged: every scheme with the union of their scopes;
    anonymous only if every one allows it."""
    found = [guard.openapi_security(app) for guard in guards]
    scopes: dict[str, set[str]] = {}
    for requirements in found:
        for requirement in requirements:
            for name, names in requirement.items():
                scopes.setdefault(name, set()).update(names)
    merged: list[Requirement] = [{name: sorted(s)} for name, s in scopes.items()]
    return [*merged, {}] if all({} in r for r in found) else merged


def _operation_id(name: str, route: Any) -> str:
    return name if len(route.methods) == 1 else f"{name}_{route.methods[0].lower()}"


def _unique(candidate: str, ids: set[str]) -> str:
    result, n = candidate, 2
    while result in ids:
        result, n = f"{candidate}_{n}", n + 1
    ids.add(result)
    return result


def _shown(param: ParamInfo) -> bool:
    return param.marker is None or param.marker.include_in_schema


def _all_params(plan: Plan) -> list[ParamInfo]:
    """The handler's parameters and those its dependencies read from the request."""
    seen: dict[tuple[str, str], ParamInfo] = {}
    todo = [plan]
    while todo:
        current = todo.pop(0)
        for param in current.params:
            seen.setdefault((param.location, param.wire_name), param)
        todo.extend(step.plan for step in current.dependencies)
    return list(seen.values())


def _parameter(param: ParamInfo, compiled: CompiledRoute, schemas: Schemas) -> dict[str, Any]:
    """One parameter, its schema being what a sent value must be: ``int | None = None`` is an
    optional ``integer`` (a parameter cannot carry a null; absent is how None is said)."""
    base = t.split_annotation(param.annotation)[0]
    marker = param.marker
    if param.location == "path" and marker is None:
        schema = dict(compiled.converters[param.name].schema)
    else:
        schema = schemas.of(sent_type(base, marker))
    if not param.required and _json_able(param.default):
        schema["default"] = param.default  # the slot is filled in later: add, don't copy
    result: dict[str, Any] = {
        "name": param.wire_name,
        "in": param.location,
        "required": param.location == "path" or param.required,
        "schema": schema,
    }
    if marker is not None:
        if marker.description:
            result["description"] = marker.description
        if marker.example is not None:
            result["example"] = marker.example
        if marker.deprecated:
            result["deprecated"] = True
    if param.location == "query" and t.sequence_item(base) is not None:
        result["explode"] = True
    return result


def _json_able(value: Any) -> bool:
    if value is None:
        return False
    try:
        msgspec.json.encode(value)
    except TypeError:
        return False
    return True


def _request_body(bodies: list[ParamInfo], schemas: Schemas) -> dict[str, Any]:
    first = bodies[0]
    if first.location == "body":
        base = t.strip_annotated(first.annotation)[0]
        schema = schemas.of(target_type(base, first.marker))
        return {"required": first.required, "content": {"application/json": {"schema": schema}}}
    properties: dict[str, Any] = {}
    required: list[str] = []
    multipart = False
    for param in bodies:
        base = t.strip_annotated(param.annotation)[0]
        schema = schemas.of(target_type(base, param.marker))
        multipart = multipart or t.is_upload(base)
        if t.is_structured(base):
            return {"required": True, "content": {_form_type(multipart): {"schema": schema}}}
        properties[param.wire_name] = schema
        if param.required:
            required.append(param.wire_name)
    object_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        object_schema["required"] = required
    return {
        "required": bool(required),
        "content": {_form_type(multipart): {"schema": object_schema}},
    }


def _form_type(multipart: bool) -> str:
    return "multipart/form-data" if multipart else "application/x-www-form-urlencoded"


def _responses(
    compiled: CompiledRoute,
    method: str,
    schemas: Schemas,
    validates: bool,
    has_body: bool,
    has_path: bool,
    refusals: set[int],
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    status = compiled.status_code
    returned = compiled.response_type
    classes = _response_classes(returned)
    success: dict[str, Any] = {"description": _phrase(status)}
    if classes:
        responses.update(_declared_responses(classes, compiled))
    elif returned is None or returned is type(None):
        if status == 200 and returned is type(None):
            status = 204
            success["description"] = _phrase(204)
    elif returned is str:
        success["content"] = {"text/plain; charset=utf-8": {"schema": {"type": "string"}}}
    else:
        success["content"] = {"application/json": {"schema": schemas.of(returned)}}
    if not classes:
        responses[str(status)] = success
        declared = _return_type(compiled.route.handler)  # response_model= named the body
        headers = declared.openapi_headers if _response_class(declared) else None
        if headers:
            success["headers"] = dict(headers)
    if validates:
        responses["400"] = _problem(400)
    for refusal in sorted(refusals):
        responses[str(refusal)] = _problem(refusal)
    if has_path:
        responses["404"] = _problem(404)
    if has_body:
        responses["413"] = _problem(413)
        responses["415"] = _problem(415)
    if validates:
        responses["422"] = _problem(422)
    for code, value in compiled.route.options.get("responses", {}).items():
        if isinstance(value, str):
            # Errors the framework raises answer problem+json; a description names why.
            responses[str(code)] = _problem(code, value) if code >= 400 else {"description": value}
        elif isinstance(value, dict):
            responses[str(code)] = value
        else:
            responses[str(code)] = {
                "description": _phrase(code),
                "content": {"application/json": {"schema": schemas.of(value)}},
            }
    return responses


def _problem(status: int, description: str | None = None) -> dict[str, Any]:
    return {"description": description or _phrase(status), "content": _PROBLEM}


def _response_class(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Response)


def _response_classes(returned: Any) -> list[type[Response]]:
    """The ``Response`` classes a return annotation names (``HTMLResponse``,
    ``HTMLResponse | RedirectResponse``); empty when it names anything else."""
    union = get_origin(returned) in (Union, types.UnionType)
    members = get_args(returned) if union else (returned,)
    classes = [m for m in members if isinstance(m, type) and issubclass(m, Response)]
    return classes if classes and len(classes) == len(members) else []


def _is_page(compiled: CompiledRoute) -> bool:
    """Whether the route answers only HTML or redirects: a page or form for browsers."""
    classes = _response_classes(compiled.response_type)
    return bool(classes) and all(
        issubclass(c, RedirectResponse) or c.media_type == "text/html" for c in classes
    )


def _declared_responses(
    classes: list[type[Response]], compiled: CompiledRoute
) -> dict[str, dict[str, Any]]:
    """What a handler returning ``Response`` objects answers: each class's own status (a
    response object keeps its status, so POST's 201 does not apply), unless the route sets
    ``status_code=``; a redirect with its ``Location``."""
    explicit = compiled.route.options.get("status_code")
    found: dict[str, dict[str, Any]] = {}
    for cls in classes:
        redirect = issubclass(cls, RedirectResponse)
        status = 303 if redirect else 200
        if explicit is not None and (300 <= explicit < 400) == redirect:
            status = explicit
        response = found.setdefault(str(status), {"description": _phrase(status)})
        if cls.openapi_headers:
            response.setdefault("headers", {}).update(cls.openapi_headers)
        if redirect:
            response["headers"] = {"Location": _LOCATION}
        elif cls.media_type:
            text = cls.media_type.startswith("text/")
            content = response.setdefault("content", {})
            content[_with_charset(cls.media_type)] = {"schema": {"type": "string"} if text else {}}
    return found


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _with_charset(media: str) -> str:
    return f"{media}; charset=utf-8" if media.startswith("text/") else media
