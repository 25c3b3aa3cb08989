"""The application: the ASGI entry point, its lifespan, and the stack frozen at start-up.

Following one request, in order:

1. ``app.py``               ``App.__call__``: make the ``Request``, run the stack
2. ``middleware/base.py``   app-level onion middleware, if any, around ``_route``
3. ``routing/_tree.py``     static paths: one dict hit; the rest: one walk down the segment tree
4. ``routing/_endpoint.py`` the compiled endpoint: route middleware, plan, handler, encoder
5. ``params/_plan.py``      the plan's extractors turn the request into arguments
6. ``di/_graph.py``         dependencies, cached per request, with ``yield`` teardown
7. ``http/request.py``      lazy headers, query, cookies and the size-limited body
8. ``http/response.py``     the response's messages, sent by ``App.__call__`` (or itself)
9. ``middleware/errors.py`` exceptions become problem+json (or the dev debug page)

Nothing in that path inspects a signature or builds a schema: ``_build`` does it once. Apps
with ``versioning=`` reach header/media-type versioned routes through a dispatcher
(``routing/versioning.py``), and apps with ``encoders=`` encode in ``http/negotiation.py``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack

from bastion._lifespan import Running, serve_lifespan
from bastion.config import Settings
from bastion.di.container import Container, teardown
from bastion.exceptions import (
    ConfigurationError,
    HeaderFieldsTooLarge,
    HTTPError,
    MethodNotAllowed,
    NotFound,
)
from bastion.http.negotiation import JSON_ENCODER, Encoder, Negotiation
from bastion.http.request import ClientDisconnect, Request
from bastion.http.response import (
    SENT_BY_MESSAGES,
    ProblemResponse,
    RedirectResponse,
    Response,
    encode_json,
)
from bastion.middleware.base import chain as chain_middleware
from bastion.middleware.base import split, wrap_asgi
from bastion.middleware.errors import ServerErrorMiddleware, problem_response, unexpected_error
from bastion.plugins import Plugin
from bastion.routing._endpoint import (
    ASGIPassthrough,
    CompiledRoute,
    apply_middleware,
    compile_http,
    compile_websocket,
)
from bastion.routing._tree import RouteTree
from bastion.routing.converters import DEFAULT_CONVERTERS, Converter
from bastion.routing.route import Mount, Route, RouteOptions, WebSocketRoute
from bastion.routing.router import Controller, Router
from bastion.routing.urls import URLBuilder
from bastion.types import ASGIApp, EarlyAnswer, Endpoint, Receive, Scope, Send
from bastion.websockets._serve import serve_websocket

if TYPE_CHECKING:  # imported by apps that version their API, not at every start-up
    from bastion.routing.versioning import Versioning

StateT = TypeVar("StateT")
#: Scope key a test client sets to have unexpected errors re-raised after the 500 is sent.
RERAISE = "bastion.reraise_server_exceptions"
_NOT_FOUND_BODY = encode_json(NotFound("No route matches the requested path").problem())
F = TypeVar("F", bound=Callable[..., Any])
Lifespan = Callable[["App[Any]"], AbstractAsyncContextManager[Any]]
ExceptionHandler = Callable[[Request, Any], Awaitable[Response] | Response]
Hook = Callable[[], Awaitable[Any] | Any]
logger = logging.getLogger("bastion")


class AppState:
    """The default ``app.state``: set attributes at start-up, read them anywhere."""


class App(Generic[StateT]):
    """A Bastion application.

    ``App(settings=..., middleware=[...], plugins=[...], lifespan=...)``; declare routes with
    ``@app.get("/path")`` etc., group them with ``app.include(Router(...))``. The route tree,
    handler plans and middleware stack are built on the first request or at start-up, and
    rebuilt only if ``dependency_overrides`` change.
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        routes: Sequence[Route | WebSocketRoute | Mount] = (),
        middleware: Sequence[Any] = (),
        dependencies: Sequence[Any] = (),
        plugins: Sequence[Plugin] = (),
        lifespan: Lifespan | None = None,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
        exception_handlers: dict[type[BaseException], ExceptionHandler] | None = None,
        converters: dict[str, Converter] | None = None,
        state: StateT | None = None,
        title: str = "Bastion API",
        version: str = "0.1.0",
        description: str = "",
        openapi_tags: Sequence[dict[str, Any]] = (),
        security_schemes: dict[str, dict[str, Any]] | None = None,
        encoders: Sequence[Encoder] = (),
        versioning: Versioning | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings.load()
        self.debug = bool(self.settings.debug)  # resolved per profile by Settings
        self.router = Router(dependencies=dependencies, routes=routes)
        self.middleware: list[Any] = list(middleware)
        self.lifespan_contexts: list[Lifespan] = [lifespan] if lifespan else []
        self.on_startup: list[Hook] = list(on_startup)
        self.on_shutdown: list[Hook] = list(on_shutdown)
        self.exception_handlers: dict[type[BaseException], ExceptionHandler] = dict(
            exception_handlers or {}
        )
        self.converters = {**DEFAULT_CONVERTERS, **(converters or {})}
        self.state: StateT = state if state is not None else AppState()  # type: ignore[assignment]
        self.title, self.version, self.description = title, version, description
        self.openapi_tags = list(openapi_tags)
        self.security_schemes = dict(security_schemes or {})
        self.cli_commands: list[Any] = []
        #: Response and body media types (``http/negotiation.py``); JSON only when empty.
        self.encoders: list[Encoder] = list(encoders)
        self.negotiation: Negotiation | None = None
        #: API versions (``routing/versioning.py``); None: no route is versioned.
        self.versioning = versioning
        self.openapi_versions: dict[str, bytes] = {}
        #: Called at start-up with each compiled route; each returns the endpoint to serve in
        #: its place. Observability wraps endpoints here, so apps without it pay nothing.
        self.endpoint_wrappers: list[Callable[[CompiledRoute], Endpoint]] = []
        #: True from the moment shutdown begins (a server sets it on SIGTERM, before it stops
        #: accepting): readiness checks answer 503 while in-flight requests finish.
        self.draining = False
        #: False in a command that runs the app's start-up for its own work (``bastion
        #: worker``, ``bastion messages publish``): plugins that listen on a port of their own
        #: (gRPC) leave serving to the server's processes.
        self.serving = True
        self.container = Container(self._invalidate)
        self.container.app = self
        self.dependency_overrides = self.container.overrides
        self.compiled: list[CompiledRoute] = []
        self.openapi_installed = False
        self.openapi_document: bytes | None = None
        #: Where a call goes before this frame serves it: the build, then the ASGI middleware
        #: (None when there is none).
        self._outer: ASGIApp | None = self._build_then_serve
        self._exit_stack: AsyncExitStack | None = None
        self.plugins = list(plugins)
        for plugin in self.plugins:
            if not isinstance(plugin, Plugin):
                raise ConfigurationError(
                    f"{plugin!r} is not a plugin: it needs an on_app_init(app) method"
                )
            plugin.on_app_init(self)

    # -- declaring ---------------------------------------------------------------------------
    def route(
        self, path: str, methods: Sequence[str], **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        return self._registering(self.router.route(path, methods, **options))

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("GET",), **options)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("POST",), **options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("PUT",), **options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("PATCH",), **options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("DELETE",), **options)

    def head(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("HEAD",), **options)

    def options(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self.route(path, ("OPTIONS",), **options)

    def websocket(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self._registering(self.router.websocket(path, **options))

    def _registering(self, register: Callable[[F], F]) -> Callable[[F], F]:
        """A route declared after start-up is served too: declaring one forces a rebuild."""

        def decorator(handler: F) -> F:
            register(handler)
            self._invalidate()
            return handler

        return decorator

    def include(self, router: Router | type[Controller]) -> None:
        self.router.include(router)
        self._invalidate()

    def mount(self, prefix: str, app: Any, *, name: str | None = None) -> None:
        self.router.mount(prefix, app, name=name)
        self._invalidate()

    def add_middleware(self, middleware: Any) -> None:
        """Append app-level middleware (innermost so far); for plugins, before start-up."""
        self.middleware.append(middleware)
        self._invalidate()

    def provide(self, tp: Any, dependency: Callable[..., Any], *, scope: str = "request") -> None:
        """Inject ``dependency``'s result into every parameter annotated with ``tp``."""
        self.container.provide(tp, dependency, scope=scope)
        self._invalidate()

    def exception_handler(self, exc_type: type[BaseException]) -> Callable[[F], F]:
        """``@app.exception_handler(MyError)`` → ``fn(request, exc) -> Response``."""

        def decorator(fn: F) -> F:
            self.exception_handlers[exc_type] = fn
            self._invalidate()
            return fn

        return decorator

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` (its handler's name unless given)."""
        self._ensure_built()
        return self._urls.build(name, params)

    # -- building ----------------------------------------------------------------------------
    def _invalidate(self) -> None:
        self._outer = self._build_then_serve

    def _ensure_built(self) -> None:
        if self._outer == self._build_then_serve:
            self._build()

    async def _build_then_serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Built in startup(), so that a mistake is reported as ``startup.failed``: raised
            # here, servers and the test client would take it for "lifespan unsupported".
            await serve_lifespan(self, receive, send)
            return
        self._build()
        await self(scope, receive, send)

    def _build(self) -> None:
        """Compile every route, the lookup trees and the middleware stack; validate all."""
        from bastion.openapi import install_openapi_routes

        install_openapi_routes(self)
        # Negotiation is compiled in only when the app answers in more than JSON.
        custom = self.encoders and self.encoders != [JSON_ENCODER]
        self.negotiation = Negotiation(self.encoders) if custom else None
        self._tree: RouteTree[Endpoint] = RouteTree()
        self._ws_tree: RouteTree[Endpoint] = RouteTree()
        self._static_routes = self._tree.static
        self._early_answers: dict[int, tuple[Endpoint, EarlyAnswer]] = {}
        self._urls = URLBuilder()
        self._mounts: list[tuple[str, Any]] = []
        self.container._app_steps.clear()
        self.compiled = []
        tables: dict[str, tuple[dict[str, Endpoint], CompiledRoute]] = {}
        versioned: dict[str, CompiledRoute] = {}
        versioning, items = self.versioning, self.router.flatten()
        if versioning is None:
            _check_unversioned(items)
        else:
            items = versioning.expand(items)
        for item in items:
            if isinstance(item, Mount):
                self._mounts.append((item.prefix, item.app))
                if item.name:
                    self._urls.add(
                        item.name, item.prefix + "/{path:path}", {"path": self.converters["path"]}
                    )
                continue
            if isinstance(item, WebSocketRoute):
                compiled = self._wrapped(compile_websocket(item, self))
                self._ws_tree.add(item.path, ("WS",), compiled.endpoint, compiled.converters)
            else:
                compiled = self._wrapped(compile_http(item, self))
                endpoint: Endpoint | None = compiled.endpoint
                if versioning is not None and "versions" in item.options:
                    endpoint = versioning.endpoint(item, compiled.endpoint, compiled.converters)
                if endpoint is not None:  # None: served by its path's version dispatcher
                    table = self._tree.add(item.path, item.methods, endpoint, compiled.converters)
                    tables.setdefault(item.path, (table, compiled))
                else:
                    versioned.setdefault(item.path, compiled)
            self._urls.add(item.name, item.path, compiled.converters)
            self.compiled.append(compiled)
        for path, method, dispatcher, converters in versioning.dispatchers() if versioning else ():
            table = self._tree.add(path, (method,), dispatcher, converters)
            tables.setdefault(path, (table, versioned[path]))
        for path, (table, first) in tables.items():
            self._add_implicit_methods(path, table, first)
        self._mounts.sort(key=lambda m: len(m[0]), reverse=True)
        self._handler_cache: dict[type[BaseException], ExceptionHandler | None] = {}
        self._custom_not_found = any(
            issubclass(NotFound, t) for t in self.exception_handlers if t is not BaseException
        )
        self._max_body = self.settings.max_body_size
        self._max_headers = self.settings.max_header_count
        self._max_header_bytes = self.settings.max_header_bytes
        self._redirect_slashes = self.settings.trailing_slash == "redirect"
        prefixed = versioning is not None and versioning.by == "prefix"
        self._prefix_versions = versioning if prefixed else None

        functions, asgi = split(self.middleware, "App(middleware=...)")
        self._handle: Endpoint = chain_middleware(functions, self._route)
        self._early = {} if functions else self._early_paths()
        inner = partial(self.__call__, _inner=True)
        self._outer = ServerErrorMiddleware(wrap_asgi(asgi, inner), self.debug) if asgi else None

    def answer_early(self, endpoint: Endpoint, answer: EarlyAnswer) -> None:
        """Let ``answer(scope)`` answer GET and HEAD requests for ``endpoint`` before a
        ``Request`` exists: it returns the start and body messages, or None to have
        ``endpoint`` serve the request, or an awaitable of either. For endpoint wrappers
        whose endpoint can often answer from the scope alone (the response cache's hits).
        Asked only on static paths whose GET and HEAD are ``endpoint``, in an app without
        function middleware (it would skip it)."""
        self._early_answers[id(endpoint)] = (endpoint, answer)

    def _early_paths(self) -> dict[str, EarlyAnswer]:
        found = {}
        for path, endpoints in self._static_routes.items():
            get = endpoints.get("GET")
            endpoint, answer = self._early_answers.get(id(get), (None, None))
            if answer is not None and endpoint is get and endpoints.get("HEAD") is get:
                found[path] = answer
        return found

    def _wrapped(self, compiled: CompiledRoute) -> CompiledRoute:
        for wrap in self.endpoint_wrappers:
            compiled.endpoint = wrap(compiled)
        return compiled

    def _add_implicit_methods(
        self, path: str, endpoints: dict[str, Endpoint], first: CompiledRoute
    ) -> None:
        """HEAD is served by GET; OPTIONS answers with ``Allow``, through the middleware of
        the path's first route so that route-level CORS sees preflight requests."""
        if "GET" in endpoints and "HEAD" not in endpoints:
            endpoints["HEAD"] = endpoints["GET"]
        if "OPTIONS" not in endpoints:
            allow = ", ".join(sorted({*endpoints, "OPTIONS"}))

            async def options(request: Request) -> Response:
                return Response(b"", 204, {"allow": allow})

            endpoints["OPTIONS"] = apply_middleware(
                first.route.options.get("middleware", ()), options, f"OPTIONS {path}", self
            )

    # -- serving -----------------------------------------------------------------------------
    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, _inner: bool = False
    ) -> None:
        """HTTP is served here, in this frame (every request pays for each frame it passes
        through); WebSockets and the lifespan elsewhere. ``_inner``: called by the app's own
        ASGI middleware, which is where outside calls go first (and, once, the build)."""
        scope["app"] = self
        if self._outer is not None and not _inner:
            await self._outer(scope, receive, send)
            return
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > self._max_headers:
            await self._headers_too_large(headers)(scope, receive, send)
            return
        size = 0
        for name, value in headers:  # for the usual dozen headers, cheaper than a join
            size += len(name) + len(value)
        if size > self._max_header_bytes:
            await self._headers_too_large(headers)(scope, receive, send)
            return
        if self._early:  # answer_early
            answer = self._early.get(scope["path"])
            method = scope["method"]
            if answer is not None and (method == "GET" or method == "HEAD"):
                messages = answer(scope)
                if messages is not None and not isinstance(messages, tuple):
                    messages = await messages  # a shared cache's round trip
                if messages is not None:
                    await send(messages[0])
                    await send(messages[1])
                    return
        request = Request(scope, receive, None, self._max_body)
        try:
            response = await self._handle(request)
        except ClientDisconnect as gone:  # nobody is left to answer; still release resources
            if request.cleanup is not None:
                await teardown(request, gone)
            return
        except Exception as exc:  # raised by middleware; handlers' errors arrive as responses
            response = await self.failed(request, exc)
        try:
            if type(response) in SENT_BY_MESSAGES:  # sent here: one coroutine fewer
                start, body = response.messages(scope["method"])
                await send(start)
                await send(body)
            else:
                await response(scope, receive, send)
        finally:
            if request.cleanup is not None:
                await teardown(request, request.error)
        error = request.error
        if error is not None and scope.get(RERAISE) and self._unhandled(error):
            raise error  # the test client asked to see unexpected errors, after the 500

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await serve_websocket(self, self._ws_tree, scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(self, receive, send)

    def _headers_too_large(self, headers: list[tuple[bytes, bytes]]) -> Response:
        size = sum(len(k) + len(v) for k, v in headers)
        error = HeaderFieldsTooLarge(
            f"The request has {len(headers)} headers ({size} bytes); the limits are "
            f"{self._max_headers} headers and {self._max_header_bytes} bytes"
        )
        return ProblemResponse(error.problem(), error.status_code)

    def _route(self, request: Request) -> Awaitable[Response]:
        """The endpoint's awaitable itself: not a coroutine of its own, one frame fewer."""
        scope = request.scope
        method = scope["method"]
        endpoints = self._static_routes.get(scope["path"])
        if endpoints is None:
            match = self._tree.find_dynamic(scope["path"], method)
            if match is None:
                return self._no_route(request)
            endpoints, request.path_params = match
        endpoint = endpoints.get(method)
        if endpoint is None:
            return self.failed(request, MethodNotAllowed(list(endpoints)))
        return endpoint(request)

    async def _no_route(self, request: Request) -> Response:
        """Mounted apps, then the trailing-slash redirect, then 404."""
        path: str = request.scope["path"]
        for prefix, app in self._mounts:
            if path == prefix or path.startswith(prefix + "/"):
                child = dict(request.scope)
                child["root_path"] = request.scope.get("root_path", "") + prefix
                child["path"] = path[len(prefix) :] or "/"
                return ASGIPassthrough(app, child)
        if self._redirect_slashes and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            if self._tree.find(other) is not None:
                query = request.scope.get("query_string", b"")
                target = other + ("?" + query.decode("latin-1") if query else "")
                return RedirectResponse(target, 308)
        if self._prefix_versions is not None:  # /v9/items: say which versions exist
            refused = self._prefix_versions.unmatched_prefix(path, self._tree.find)
            if refused is not None:
                return refused
        if self._custom_not_found:
            return await self.failed(request, NotFound(f"No route matches {path}"))
        response = Response(_NOT_FOUND_BODY, 404)
        response.raw_headers.append(ProblemResponse.content_type_header)
        return response

    async def failed(self, request: Request, exc: Exception) -> Response:
        """Record a request's error (for teardown) and answer it; a vanished client gets
        nothing, so its ``ClientDisconnect`` goes on up."""
        if isinstance(exc, ClientDisconnect):
            raise exc
        request.error = exc
        return await self.error_response(request, exc)

    async def error_response(self, request: Request, exc: Exception) -> Response:
        """The response for an exception: a registered handler, problem+json, or a 500."""
        handler = self._exception_handler_for(type(exc))
        if handler is not None:
            result = handler(request, exc)
            return await result if inspect.isawaitable(result) else result
        if isinstance(exc, HTTPError):
            return problem_response(exc)
        return unexpected_error(request, exc, self.debug)

    def _unhandled(self, exc: Exception) -> bool:
        """True for an error that became a plain 500: no handler, not an HTTPError."""
        return not isinstance(exc, HTTPError) and self._exception_handler_for(type(exc)) is None

    def _exception_handler_for(self, exc_type: type[BaseException]) -> ExceptionHandler | None:
        try:
            return self._handler_cache[exc_type]
        except KeyError:
            found = next(
                (
                    self.exception_handlers[t]
                    for t in exc_type.__mro__
                    if t in self.exception_handlers
                ),
                None,
            )
            self._handler_cache[exc_type] = found
            return found

    # -- lifespan ----------------------------------------------------------------------------
    async def startup(self) -> None:
        """Build and validate everything, then run start-up hooks and lifespan contexts."""
        self._ensure_built()
        self.draining = False
        stack = AsyncExitStack()
        await stack.__aenter__()
        self._exit_stack = stack
        try:
            await self.container.startup()
            stack.push_async_callback(self.container.shutdown)
            for hook in self.on_startup:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            for context in self.lifespan_contexts:
                await stack.enter_async_context(context(self))
        except BaseException:
            # Nobody calls shutdown() after a failed start-up: leave what did start (a model's
            # workers, the MCP session manager, open pools) here, in this task, rather than
            # leak it to the garbage collector, which closes it from another task, noisily.
            self._exit_stack = None
            await stack.aclose()
            raise

    async def shutdown(self) -> None:
        """Leave lifespan contexts (last in, first out) and run shutdown hooks."""
        self.draining = True
        try:
            for hook in self.on_shutdown:
                result = hook()
                if inspect.isawaitable(result):
                    await result
        finally:
            if self._exit_stack is not None:
                stack, self._exit_stack = self._exit_stack, None
                await stack.aclose()

    def lifespan(self) -> AbstractAsyncContextManager[App[StateT]]:
        """``async with app.lifespan():`` runs start-up and shutdown around a block."""
        return Running(self)


def _check_unversioned(items: list[Route | WebSocketRoute | Mount]) -> None:
    """An app without ``versioning=`` must not have routes declaring ``versions=``."""
    for item in items:
        if not isinstance(item, Mount) and item.options.get("versions") is not None:
            raise ConfigurationError(
                f"route {item.path} declares versions= but the app has no versioning; add "
                "App(versioning=Versioning(['1', '2'], by='prefix'|'header'|'media_type'))"
            )
