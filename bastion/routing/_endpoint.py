"""A route compiled into an endpoint: ``async (request) -> Response``.

The plan extracts arguments, the handler runs (sync ones in a thread), the result becomes a
response by its type, and the route's middleware wraps all of it. The variants below exist so
that a handler without parameters pays for no argument machinery at all.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.di._graph import DependencyStep, dependency_step
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError
from bastion.http.negotiation import PendingResponse
from bastion.http.request import ClientDisconnect, Request
from bastion.http.response import JSONResponse, Response, TextResponse, encode_json
from bastion.middleware.base import chain, split, wrap_asgi
from bastion.params import _types as t
from bastion.params._plan import Plan, compile_plan, signature_of
from bastion.routing.converters import CONVERTER_FOR_TYPE, Converter
from bastion.routing.route import Route, WebSocketRoute, parse_path
from bastion.types import Endpoint, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from bastion.app import App


class CompiledRoute:
    """Everything start-up learned about a route: kept for OpenAPI and ``bastion routes``."""

    def __init__(
        self,
        route: Route | WebSocketRoute,
        plan: Plan,
        endpoint: Endpoint,
        converters: dict[str, Converter],
        status_code: int,
        response_type: Any,
    ):
        self.route = route
        self.plan = plan
        self.endpoint = endpoint
        self.converters = converters
        self.status_code = status_code
        self.response_type = response_type


def path_converters(route: Route | WebSocketRoute, app: App[Any]) -> dict[str, Converter]:
    """Each path parameter's converter: declared (``{id:int}``) or taken from the annotation."""
    _, hints = signature_of(route.handler)
    result: dict[str, Converter] = {}
    for segment in parse_path(route.path):
        if segment[0] != "param":
            continue
        name, declared = segment[1], segment[2]
        base = t.strip_optional(t.strip_annotated(hints.get(name, str))[0])[0]
        converter_name = declared or CONVERTER_FOR_TYPE.get(base, "str")
        if converter_name not in app.converters:
            known = ", ".join(sorted(app.converters))
            raise ConfigurationError(
                f"Route {route.path!r} uses the unknown converter {converter_name!r}; known "
                f"converters: {known}. Register custom ones with App(converters={{...}})"
            )
        result[name] = app.converters[converter_name]
    return result


def _side_effect_steps(
    route: Route | WebSocketRoute, where: str, app: App[Any], path_types: dict[str, Any]
) -> list[DependencyStep]:
    steps = []
    for index, dep in enumerate(route.options.get("dependencies", ())):
        if not isinstance(dep, Depends):
            raise ConfigurationError(
                f"{where}: dependencies=[...] takes Depends(fn) items, got {dep!r} at {index}"
            )
        steps.append(
            dependency_step(
                dep, f"{where} dependency #{index}", app.container, path_types, (), True
            )
        )
    return steps


def compile_http(route: Route, app: App[Any]) -> CompiledRoute:
    methods = "|".join(route.methods)
    where = f"route {methods} {route.path}"
    converters = path_converters(route, app)
    path_types = {name: c.type for name, c in converters.items()}
    plan = compile_plan(route.handler, where=where, container=app.container, path_params=path_types)
    pre = _side_effect_steps(route, where, app, path_types)
    _register_app_steps(plan, pre, app)

    default_status = 201 if route.methods == ("POST",) else 200
    status_code = route.options.get("status_code", default_status)
    response_type = route.options.get("response_model") or _return_type(route.handler)
    negotiation = app.negotiation  # None unless the app answers in more than JSON
    data = JSONResponse if negotiation is None else PendingResponse
    to_response = _encoder(status_code, "status_code" in route.options, route, data)
    handler = _as_async(route.handler)
    path_only = plan.path_only and {p.name for p in plan.params} == set(converters)

    # Errors become responses right here, so every middleware layer sees a Response (CORS and
    # request-id headers land on error answers too). The try is written into each variant
    # rather than wrapped around them: it costs nothing until something raises.
    failed = app.failed
    endpoint: Endpoint
    if pre or plan.async_steps:

        async def endpoint(request: Request) -> Response:
            try:
                for step in pre:
                    await step(request)
                result = await handler(**await plan.kwargs(request))
                if request.before_send:  # set only by dependencies, hence only here
                    for hook in request.before_send:
                        await hook()
                return to_response(result)
            except Exception as exc:
                return await failed(request, exc)
    elif path_only:

        async def endpoint(request: Request) -> Response:
            try:
                return to_response(await handler(**request.path_params))
            except Exception as exc:
                return await failed(request, exc)
    elif plan.sync_steps:

        async def endpoint(request: Request) -> Response:
            try:
                return to_response(await handler(**plan.kwargs_sync(request)))
            except Exception as exc:
                return await failed(request, exc)
    else:

        async def endpoint(request: Request) -> Response:
            try:
                return to_response(await handler())
            except Exception as exc:
                return await failed(request, exc)

    if negotiation is not None:
        endpoint = negotiation.wrap(endpoint)
    if "max_body_size" in route.options:
        endpoint = _body_limited(endpoint, route.options["max_body_size"], where)
    endpoint = apply_middleware(route.options.get("middleware", ()), endpoint, where, app)
    return CompiledRoute(route, plan, endpoint, converters, status_code, response_type)


def _body_limited(endpoint: Endpoint, limit: int, where: str) -> Endpoint:
    """The route's own ``max_body_size`` (an upload route's larger one, a webhook's
    smaller one) in place of the app's, for the route's middleware and handler."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(f"{where}: max_body_size={limit!r}; use a number of bytes >= 1")

    async def limited(request: Request) -> Response:
        request.max_body_size = limit
        return await endpoint(request)

    return limited


def compile_websocket(route: WebSocketRoute, app: App[Any]) -> CompiledRoute:
    where = f"websocket route {route.path}"
    converters = path_converters(route, app)
    path_types = {name: c.type for name, c in converters.items()}
    plan = compile_plan(route.handler, where=where, container=app.container, path_params=path_types)
    if not inspect.iscoroutinefunction(route.handler):
        raise ConfigurationError(f"{where}: a WebSocket handler must be `async def`")
    if plan.body is not None:
        raise ConfigurationError(
            f"{where}: a WebSocket handler cannot take a request body; "
            "receive messages with websocket.receive_json(type=...)"
        )
    pre = _side_effect_steps(route, where, app, path_types)
    _register_app_steps(plan, pre, app)
    handler = route.handler

    async def endpoint(request: Request) -> Response:
        for step in pre:
            await step(request)
        await handler(**await plan.kwargs(request))
        return _NO_RESPONSE

    return CompiledRoute(route, plan, endpoint, converters, 101, None)


_NO_RESPONSE = Response(b"", 204)
_new_response = Response.__new__
_TEXT_TYPE = TextResponse.content_type_header
_JSON_TYPE = JSONResponse.content_type_header


def _register_app_steps(plan: Plan, pre: list[DependencyStep], app: App[Any]) -> None:
    """App-scoped dependencies are created at start-up, so failures show before traffic."""
    todo: list[DependencyStep] = [*plan.dependencies, *pre]
    while todo:
        step = todo.pop()
        if step.scope == "app":
            app.container.register_app_step(step)
        todo.extend(step.plan.dependencies)


def apply_middleware(middleware: Any, endpoint: Endpoint, where: str, app: App[Any]) -> Endpoint:
    """Onion functions wrap the endpoint; raw ASGI classes turn the route into an ASGI app."""
    functions, asgi = split(middleware, where)
    endpoint = chain(functions, endpoint)
    if not asgi:
        return endpoint
    inner_endpoint = endpoint

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        request: Request = scope["bastion.request"]
        try:
            response = await inner_endpoint(request)
        except ClientDisconnect:
            return
        except Exception as exc:  # from the route's onion middleware
            response = await app.failed(request, exc)
        await response(scope, receive, send)

    wrapped = wrap_asgi(asgi, inner)

    async def asgi_endpoint(request: Request) -> Response:
        request.scope["bastion.request"] = request
        return ASGIPassthrough(wrapped)

    return asgi_endpoint


class ASGIPassthrough(Response):
    """A 'response' that hands the connection to an ASGI app (mounts, ASGI middleware)."""

    __slots__ = ("app", "child_scope")

    def __init__(self, app: Callable[..., Any], child_scope: Scope | None = None) -> None:
        super().__init__(b"")
        self.app = app
        self.child_scope = child_scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.child_scope if self.child_scope is not None else scope
        extra = self.raw_headers  # added by middleware (security headers, CORS, request id)
        if not extra:
            await self.app(target, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(target, receive, send_with_headers)


def _as_async(handler: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(handler):
        return handler

    import anyio.to_thread

    async def run_in_thread(**kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(handler, **kwargs))

    return run_in_thread


def _return_type(handler: Callable[..., Any]) -> Any:
    _, hints = signature_of(handler)
    return hints.get("return")


def _encoder(
    status: int, explicit: bool, route: Route, data: Callable[[Any, int], Response]
) -> Callable[[Any], Response]:
    """How a handler's return value becomes a response, decided once."""
    extra = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in route.options.get("headers", {}).items()
    ]
    convert = _converter(route.options.get("response_model"))
    empty_status = status if explicit else 204

    def to_response(result: Any) -> Response:
        if convert is not None and not isinstance(result, Response):
            result = convert(result)
        # Text and JSON, the common answers, are built without __init__'s choices.
        response: Response
        if type(result) is str:
            response = _new_response(TextResponse)
            response.status_code = status
            response.body = result.encode()
            response.raw_headers = [_TEXT_TYPE]
        elif isinstance(result, Response):
            return result
        elif result is None:
            response = Response(b"", empty_status)
        elif data is JSONResponse:
            response = _new_response(JSONResponse)
            response.status_code = status
            response.body = encode_json(result)
            response.raw_headers = [_JSON_TYPE]
        else:
            response = data(result, status)
        if extra:
            response.raw_headers.extend(extra)
        return response

    return to_response


def _converter(model: Any) -> Callable[[Any], Any] | None:
    """For an explicit ``response_model``: shape other objects (ORM rows, dicts) into it."""
    if model is None:
        return None
    if t.is_pydantic_model(model):

        def to_pydantic(result: Any) -> Any:
            if isinstance(result, model):
                return result
            if isinstance(result, dict):
                return model.model_validate(result)
            return model.model_validate(result, from_attributes=True)

        return to_pydantic

    def to_model(result: Any) -> Any:
        if type(result) is model:
            return result
        return msgspec.convert(result, model, from_attributes=True)

    return to_model
