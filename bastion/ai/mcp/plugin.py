"""``MCP()``: chosen routes of the app served as Model Context Protocol tools and resources.

    mcp = MCP(name="shop")
    app = App(plugins=[AuthPlugin(tokens), mcp])

    @app.post("/orders", dependencies=[requires("buyer")])
    @mcp.tool()
    async def place_order(order: NewOrder) -> Order: ...

The MCP endpoint (``/mcp``, Streamable HTTP) is the official SDK's low-level ``Server`` and
its session manager, behind a route of the app, so the app's middleware sees it too. What a
tool is comes from the app at start-up: its input schema from the route's OpenAPI operation
(``_schema.py``), and each call is made a request to the route itself (``_dispatch.py``), so
dependencies, guards, rate limits and validation are those of the HTTP API, and a refusal is
a result with ``isError`` (``_results.py``). An unknown tool or a malformed call is a
JSON-RPC error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from bastion.ai.mcp._discover import NAME, Mark, discover, match_uri, resource_uri, tool_of
from bastion.ai.mcp._dispatch import BadArguments, Target, call, request_parts
from bastion.ai.mcp._results import error_result, resource_contents, tool_result
from bastion.exceptions import ConfigurationError, Forbidden, ServiceUnavailable
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.routing._endpoint import ASGIPassthrough
from bastion.routing.route import RouteOptions
from bastion.types import Receive, Scope, Send

if TYPE_CHECKING:
    from bastion.app import App

logger = logging.getLogger("bastion.ai.mcp")
F = TypeVar("F", bound=Callable[..., Any])


class MCP:
    """Serve the routes marked ``@mcp.tool()`` and ``@mcp.resource()`` over MCP at ``path``.

    ``allowed_origins``: browser origins allowed to call the endpoint (a request with any
    other ``Origin`` is a 403, against DNS rebinding; MCP clients send none).
    ``timeout``/``max_result_bytes``: the most a call may take and answer.
    ``uri_scheme``: resources are ``app://reports/{day}`` for ``GET /reports/{day}``.
    ``stateless``: every POST stands alone (any worker can answer it; no session affinity).
    """

    def __init__(
        self,
        *,
        name: str = "bastion",
        version: str | None = None,
        instructions: str | None = None,
        path: str = "/mcp",
        allowed_origins: tuple[str, ...] = (),
        uri_scheme: str = "app",
        timeout: float = 30.0,
        max_result_bytes: int = 1024 * 1024,
        max_request_bytes: int | None = None,
        stateless: bool = True,
        json_response: bool = True,
    ) -> None:
        if not path.startswith("/") or path.endswith("/"):
            raise ConfigurationError(f"MCP(path={path!r}) must look like '/mcp'")
        if not re.fullmatch(r"[a-z][a-z0-9+.-]*", uri_scheme):
            raise ConfigurationError(f"MCP(uri_scheme={uri_scheme!r}) must be a URI scheme")
        if not timeout > 0 or max_result_bytes < 1:
            raise ConfigurationError(
                f"MCP(timeout={timeout}, max_result_bytes={max_result_bytes}) must be positive"
            )
        self.name, self.version, self.path = name, version, path
        self.allowed_origins = frozenset(allowed_origins)
        self.uri_scheme = uri_scheme
        self.timeout, self.max_result_bytes = timeout, max_result_bytes
        self.max_request_bytes = max_request_bytes
        self.stateless, self.json_response = stateless, json_response
        self.tools: dict[str, Target] = {}
        self.resources: dict[str, Target] = {}
        self._marks: dict[Callable[..., Any], Mark] = {}
        self._app: App[Any] | None = None
        self._routes_to_add: list[Callable[[App[Any]], None]] = []
        self._manager: StreamableHTTPSessionManager | None = None
        self.server: Server[Any] = Server(
            name,
            version=version or "",
            instructions=instructions,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
        )

    # -- declaring ---------------------------------------------------------------------------
    def tool(self, *, name: str | None = None, description: str | None = None) -> Callable[[F], F]:
        """Mark a route's handler as a tool (its route name by default; the description is
        the route's OpenAPI summary and description unless given)."""
        return self._marking(Mark("tool", name, description))

    def resource(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
    ) -> Callable[[F], F]:
        """Mark a ``GET`` route's handler as a resource (a template when it has path
        parameters)."""
        return self._marking(Mark("resource", name, description, mime_type))

    def function(
        self,
        *,
        tool: str | None = None,
        **options: Unpack[RouteOptions],
    ) -> Callable[[F], F]:
        """A plain typed function as the tool ``tool`` (its name by default). It is served as
        the route ``POST {path}/functions/{tool}`` (in the OpenAPI document, tagged ``mcp``),
        which is how it gets the app's validation, dependencies and middleware; ``options``
        are the route's (``dependencies=[requires(...)]``, ``middleware=[RateLimit(...)]``,
        ``description=``…)."""

        def decorator(fn: F) -> F:
            tool_name = tool or fn.__name__
            self._marking(Mark("tool", tool_name, None))(fn)
            route_options: dict[str, Any] = {"tags": ["mcp"], "status_code": 200, **options}
            route_options["name"] = f"mcp_{tool_name}"

            def register(app: App[Any]) -> None:
                path = f"{self.path}/functions/{tool_name}"
                app.route(path, ("POST",), **route_options)(fn)

            if self._app is not None:
                register(self._app)
            else:
                self._routes_to_add.append(register)
            return fn

        return decorator

    def _marking(self, mark: Mark) -> Callable[[F], F]:
        if mark.name is not None and not NAME.fullmatch(mark.name):
            raise ConfigurationError(
                f"MCP {mark.kind} name {mark.name!r}: use 1-128 letters, digits, '_', '-', '.'"
            )

        def decorator(handler: F) -> F:
            if handler in self._marks:
                raise ConfigurationError(f"{handler.__qualname__} is marked for MCP twice")
            self._marks[handler] = mark
            return handler

        return decorator

    # -- joining the app ---------------------------------------------------------------------
    def on_app_init(self, app: App[Any]) -> None:
        self._app = app
        if self.version is None:
            self.version = app.version
        app.on_startup.append(self._prepare)
        app.lifespan_contexts.append(self._running)
        for register in self._routes_to_add:
            register(app)

        async def mcp_endpoint(request: Request) -> Response:
            origin = request.headers.get("origin")
            if origin is not None and origin not in self.allowed_origins:
                raise Forbidden(
                    f"Origin {origin} may not call the MCP endpoint; list it in "
                    "MCP(allowed_origins=...)"
                )
            if self._manager is None:
                raise ServiceUnavailable("The MCP endpoint is starting or stopping")
            return ASGIPassthrough(self._serve)

        mcp_endpoint.__annotations__ = {"request": Request, "return": Response}
        app.route(self.path, ("GET", "POST", "DELETE"), name="mcp", include_in_schema=False)(
            mcp_endpoint
        )

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if manager is not None:
            await manager.handle_request(scope, receive, send)

    @asynccontextmanager
    async def _running(self, app: App[Any]) -> AsyncIterator[None]:
        """A session manager per run of the app (the SDK's can run only once)."""
        limit = self.max_request_bytes or app.settings.max_body_size
        manager = StreamableHTTPSessionManager(
            app=self.server,
            stateless=self.stateless,
            json_response=self.json_response,
            max_request_body_size=limit,
        )
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    def _prepare(self) -> None:
        """At start-up: find each marked handler's route and describe it from the app's
        OpenAPI document; a mark on no route is a mistake said now, not at the first call."""
        if self._app is not None:
            self.tools, self.resources = discover(self._app, self._marks)

    # -- MCP handlers ------------------------------------------------------------------------
    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool_of(t) for t in self.tools.values()])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        target = self.tools.get(params.name)
        if target is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name[:128]}")
        try:
            path, query, body = request_parts(target, params.arguments or {})
        except BadArguments as exc:
            return error_result({"title": "Invalid arguments", "status": 422, "detail": str(exc)})
        try:
            captured = await self._call(ctx, target, path, query, body)
        except Exception:  # a fault of this module: logged here, never sent
            logger.exception("MCP tool %s failed", target.name)
            return error_result({"title": "Internal Server Error", "status": 500})
        return tool_result(captured, target.name, self.max_result_bytes)

    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        listed = [
            types.Resource(
                uri=self._uri(t),
                name=t.name,
                description=t.description or None,
                mime_type=t.mime_type,
            )
            for t in self.resources.values()
            if not t.path_params
        ]
        return types.ListResourcesResult(resources=listed)

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        listed = [
            types.ResourceTemplate(
                uri_template=self._uri(t),
                name=t.name,
                description=t.description or None,
                mime_type=t.mime_type,
            )
            for t in self.resources.values()
            if t.path_params
        ]
        return types.ListResourceTemplatesResult(resource_templates=listed)

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        for target in self.resources.values():
            arguments = match_uri(self._uri(target), uri)
            if arguments is None:
                continue
            try:
                path, query, _ = request_parts(target, arguments)
            except BadArguments as exc:
                raise MCPError(types.INVALID_PARAMS, str(exc)) from None
            try:
                captured = await self._call(ctx, target, path, query, None)
            except Exception:
                logger.exception("MCP resource %s failed", uri[:200])
                raise MCPError(types.INTERNAL_ERROR, "Internal Server Error") from None
            contents = resource_contents(captured, uri, self.max_result_bytes)
            return types.ReadResourceResult(contents=list(contents))
        raise MCPError(types.INVALID_PARAMS, f"Resource not found: {uri[:200]}")

    # -- helpers -----------------------------------------------------------------------------
    async def _call(
        self,
        ctx: ServerRequestContext[Any],
        target: Target,
        path: str,
        query: bytes,
        body: bytes | None,
    ) -> Any:
        assert self._app is not None
        http = ctx.request  # the HTTP request that carried this message
        outer: Scope = getattr(http, "scope", None) or {}
        return await call(
            self._app,
            outer,
            target.method,
            path,
            query,
            body,
            tool=target.name,
            time_limit=self.timeout,
            max_bytes=self.max_result_bytes,
        )

    def _uri(self, target: Target) -> str:
        return resource_uri(target, self.uri_scheme)
