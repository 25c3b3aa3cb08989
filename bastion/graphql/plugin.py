"""``GraphQL(schema)``: a Strawberry schema served by the app, as a plugin.

``App(plugins=[GraphQL(schema, path="/graphql", context=make_context)])`` adds:

* ``POST /graphql`` (JSON) and ``GET /graphql?query=...`` (queries only; a mutation over GET
  is a 405), answered as the GraphQL-over-HTTP spec says: ``application/graphql-response+json``
  when the client accepts it (a document that does not parse or validate is then a 400),
  ``application/json`` otherwise (always 200 with ``errors``);
* GraphiQL at the same path for browsers (vendored, offline), unless ``graphiql=False``;
* subscriptions over WebSocket (graphql-transport-ws) at the same path, when the schema
  has a ``Subscription`` type (``_ws.py``).

``middleware=`` and ``dependencies=`` (guards) go on the HTTP routes as a route's options
do; the socket runs the guards once, at ``connection_init``.

Everything is decided here, once: the context function is compiled into the route's
dependency plan by the app like any handler parameter (and, for the socket, into a step run
per operation); the limits and
the parse and validation caches become schema extensions.
A body that is not JSON, or has no query, is a 400 problem+json naming the field.
"""

from __future__ import annotations

import logging
import sys
import typing
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from strawberry import Schema
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from bastion.di.depends import Depends
from bastion.exceptions import BadRequest, ConfigurationError, MethodNotAllowed
from bastion.graphql._context import Context, default_context
from bastion.graphql._fast import Plans, Recorder, eligible
from bastion.graphql._fast import execute as execute_known
from bastion.graphql._graphiql import Assets, graphiql_page
from bastion.graphql._limits import Limits, caches
from bastion.graphql._persisted import NOT_FOUND, PersistedQueries, PersistedQueryNotFound
from bastion.graphql._result import log_errors, response_document
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, Response, encode_json

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.auth.plugin import Authentication
    from bastion.di._graph import DependencyStep

logger = logging.getLogger("bastion.graphql")

GRAPHQL_RESPONSE = "application/graphql-response+json"
_MARK = "__bastion_graphql_limits__"


class Params(msgspec.Struct, forbid_unknown_fields=False):
    """A GraphQL-over-HTTP request body."""

    query: str | None = None
    variables: dict[str, Any] | None = None
    operationName: str | None = None
    extensions: dict[str, Any] | None = None


_decode_params = msgspec.json.Decoder(Params).decode


def _field_error(field: str, reason: str) -> BadRequest:
    return BadRequest(f"{field}: {reason}", extra={"errors": [{"field": field, "reason": reason}]})


def _validation_field(exc: msgspec.ValidationError, root: str) -> BadRequest:
    """msgspec's "Expected `str`, got `int` - at `$.query`" as field ``body.query``."""
    message = str(exc)
    reason, _, where = message.partition(" - at `$")
    field = root + where.rstrip("`").replace("[", ".").replace("]", "") if where else root
    return _field_error(field, reason)


class GraphQL:
    """Serve ``schema`` at ``path``; see the module docstring.

    ``context``: a dependency (its parameters are injected) returning a ``Context``;
    ``limits``: depth, alias and token limits (``Limits()`` by default, ``None`` for none);
    ``persisted_queries``: APQ by hash (on by default), or an allow-list;
    ``cache_size``: parsed and validated documents kept (0 turns the caches off);
    ``middleware``, ``dependencies``: as a route's options, on the HTTP routes (``Metered``
    from bastion.apim, ``requires(...)``); the WebSocket runs ``dependencies`` once per
    connection, at ``connection_init``.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        path: str = "/graphql",
        context: Callable[..., Any] | None = None,
        limits: Limits | None = Limits(),
        persisted_queries: PersistedQueries | None = None,
        graphiql: bool = True,
        cache_size: int = 1_000,
        subscriptions: bool = True,
        connection_init_timeout: float = 5.0,
        max_subscriptions: int = 100,
        name: str = "graphql",
        middleware: Sequence[Any] = (),
        dependencies: Sequence[Depends] = (),
    ) -> None:
        if not isinstance(schema, Schema):
            raise ConfigurationError(
                f"GraphQL(schema) takes a strawberry.Schema(query=...), not {schema!r}"
            )
        if not path.startswith("/") or path.endswith("/"):
            raise ConfigurationError(f"GraphQL(path={path!r}) must look like '/graphql'")
        if connection_init_timeout <= 0 or max_subscriptions < 1:
            raise ConfigurationError(
                "GraphQL(connection_init_timeout=..., max_subscriptions=...) must be positive, "
                f"got {connection_init_timeout} and {max_subscriptions}"
            )
        self.schema = schema
        self.path = path
        self.context_fn = context if context is not None else default_context
        _check_context(self.context_fn)
        self.limits = limits
        self.persisted = persisted_queries if persisted_queries is not None else PersistedQueries()
        self.graphiql = graphiql
        self.subscriptions = subscriptions and schema.subscription is not None
        self.connection_init_timeout = connection_init_timeout
        self.max_subscriptions = max_subscriptions
        self.name = name
        for index, dependency in enumerate(dependencies):
            if not isinstance(dependency, Depends):
                raise ConfigurationError(
                    f"GraphQL(dependencies=[...]) takes Depends(fn) items (requires(...) is "
                    f"one), got {dependency!r} at {index}"
                )
        self.middleware = tuple(middleware)
        self.dependencies = tuple(dependencies)
        self.debug = False
        self._context_step: DependencyStep | None = None
        self._guard_steps: list[DependencyStep] = []
        self._assets = Assets()
        self._auth_step: DependencyStep | None = None
        self._app: App[Any] | None = None
        if cache_size < 0:
            raise ConfigurationError(f"GraphQL(cache_size={cache_size}) must be 0 (off) or more")
        self.cache_size = cache_size
        installed = getattr(schema, _MARK, None)
        if installed is None:
            # Documents seen before skip Strawberry's per-request machinery (_fast.py).
            plans = Plans(cache_size) if cache_size and eligible(schema) else None
            added = [
                *(limits.extensions() if limits else ()),
                *(caches(cache_size) if cache_size else ()),
                *([partial(Recorder, plans=plans)] if plans is not None else ()),
            ]
            schema.extensions = (*schema.extensions, *added)
            setattr(schema, _MARK, (limits, cache_size, plans))
        elif installed[:2] != (limits, cache_size):
            raise ConfigurationError(
                "This schema is already served by a GraphQL(...) with other limits or cache "
                "size; build one strawberry.Schema per endpoint"
            )
        self.plans: Plans | None = getattr(schema, _MARK)[2]
        # An instance attribute shadows the method Strawberry calls for every error.
        schema.process_errors = log_errors  # type: ignore[method-assign]

    # -- joining the app ---------------------------------------------------------------------
    def on_app_init(self, app: App[Any]) -> None:
        self._app = app
        self.debug = app.debug
        context_type = Annotated[Context, Depends(self.context_fn)]

        async def graphql_post(request: Request, context: Context) -> Response:
            return await self._post(request, context)

        async def graphql_get(request: Request, context: Context) -> Response:
            return await self._get(request, context)

        async def graphiql_asset(name: str) -> Response:
            return self._assets.response(name)

        for handler in (graphql_post, graphql_get):
            handler.__annotations__ = {
                "request": Request,
                "context": context_type,
                "return": Response,
            }
        options: dict[str, Any] = {"include_in_schema": False, "tags": ["graphql"]}
        guarded: dict[str, Any] = {
            **options,
            "middleware": self.middleware,
            "dependencies": self.dependencies,
        }
        app.on_startup.append(self._prepare)
        app.post(self.path, name=self.name, **guarded)(graphql_post)
        app.get(self.path, name=f"{self.name}_get", **guarded)(graphql_get)
        if self.graphiql:  # the vendored scripts are public, unguarded and not metered
            app.get(f"{self.path}/graphiql/{{name}}", name=f"{self.name}_graphiql", **options)(
                graphiql_asset
            )
        if self.subscriptions:
            from bastion.graphql._ws import websocket_handler

            app.websocket(self.path, name=f"{self.name}_ws")(websocket_handler(self))

    def _prepare(self) -> None:
        """At start-up: compile how permissions reach the app's authentication, and refuse
        a schema whose permissions need an ``AuthPlugin`` the app does not have."""
        from bastion.graphql.permissions import uses_authentication

        # Without bastion.auth imported no app can have an AuthPlugin: not imported for that.
        auth_module = sys.modules.get("bastion.auth.plugin")
        authentication = getattr(auth_module, "Authentication", None)
        app = self._app
        if app is not None and self.subscriptions:
            from bastion.di._graph import dependency_step

            where = f"GraphQL WebSocket {self.path}"
            self._context_step = dependency_step(
                Depends(self.context_fn), f"{where} context", app.container, {}, (), True
            )
            self._guard_steps = [
                dependency_step(dep, f"{where} dependency #{i}", app.container, {}, (), True)
                for i, dep in enumerate(self.dependencies)
            ]
        if app is not None and authentication in app.container.providers:
            self._auth_step = self._compile_auth()
        elif uses_authentication(self.schema):
            raise ConfigurationError(
                f"The GraphQL schema at {self.path} uses IsAuthenticated, requires() or "
                "allowed(), which need authentication: add plugins=[AuthPlugin(...)] "
                "(from bastion.auth) to App(...)"
            )

    # -- the WebSocket's steps (compiled at start-up) ---------------------------------------
    def connection_steps(self) -> tuple[list[DependencyStep], DependencyStep | None]:
        """What a socket runs once, at ``connection_init``: the guards, and the app's
        authentication (None without an ``AuthPlugin``)."""
        return self._guard_steps, self._auth_step

    async def operation_context(self, request: Request) -> Context:
        """One operation's context, its dependencies resolved in ``request`` (closed by the
        caller when the operation ends)."""
        step = self._context_step
        if step is None:
            raise RuntimeError("GraphQL(...) serves sockets only in an app that has started")
        context: Context = await step(request)
        context.graphql = self
        return context

    # -- authentication, for permissions -----------------------------------------------------
    async def authentication(self, request: Request) -> Authentication:
        """The request's ``Authentication``, through the app's ``AuthPlugin`` (cached per
        request by the dependency system, like a handler's ``CurrentUser``)."""
        step = self._auth_step
        if step is None:
            step = self._auth_step = self._compile_auth()
        result: Authentication = await step(request)
        return result

    def _compile_auth(self) -> DependencyStep:
        from bastion.auth.plugin import Authentication
        from bastion.di._graph import dependency_step

        app = self._app
        depends = app.container.providers.get(Authentication) if app is not None else None
        if app is None or depends is None:
            raise ConfigurationError(
                "GraphQL permissions need authentication: add plugins=[AuthPlugin(...)] to App(...)"
            )
        return dependency_step(depends, "GraphQL permissions", app.container, {}, (), True)

    # -- HTTP ------------------------------------------------------------------------------
    async def _post(self, request: Request, context: Context) -> Response:
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media not in ("application/json", "application/graphql+json"):
            raise _field_error(
                "header.content-type",
                f"send the GraphQL request as application/json, not {media or 'nothing'}",
            )
        body = await request.body()
        try:
            params = _decode_params(body)
        except msgspec.ValidationError as exc:
            raise _validation_field(exc, "body") from None
        except msgspec.DecodeError:
            raise _field_error("body", "not valid JSON") from None
        return await self._run(request, context, params, mutations=True)

    async def _get(self, request: Request, context: Context) -> Response:
        query = request.query_params
        if (
            self.graphiql
            and "query" not in query
            and "extensions" not in query
            and "text/html" in request.headers.get("accept", "")
        ):
            return self._graphiql_page(request)
        params = Params(query=query.get("query"), operationName=query.get("operationName"))
        for name in ("variables", "extensions"):
            raw = query.get(name)
            if raw:
                try:
                    value = msgspec.json.decode(raw)
                except msgspec.DecodeError:
                    raise _field_error(f"query.{name}", "not valid JSON") from None
                if not isinstance(value, dict):
                    raise _field_error(f"query.{name}", "expected a JSON object")
                setattr(params, name, value)
        return await self._run(request, context, params, mutations=False)

    def _graphiql_page(self, request: Request) -> Response:
        prefix = request.scope.get("root_path", "")
        ws = prefix + self.path if self.subscriptions else None
        page = graphiql_page(prefix + self.path, f"{prefix}{self.path}/graphiql", ws)
        return HTMLResponse(page)

    async def _run(
        self, request: Request, context: Context, params: Params, *, mutations: bool
    ) -> Response:
        try:
            query = self.persisted.resolve(params.query, params.extensions)
        except PersistedQueryNotFound:
            error = {"message": "PersistedQueryNotFound", "extensions": {"code": NOT_FOUND}}
            return self._respond(request, {"errors": [error]}, rejected=False)
        where = "body" if mutations else "query"
        if query is None:
            raise _field_error(f"{where}.query", "a GraphQL document is required")
        context.graphql = self
        known = self.plans.find(query, params.operationName) if self.plans is not None else None
        if known is not None:
            document, operation_type = known
            if operation_type not in _ALLOWED[mutations]:
                raise self._refused(operation_type, where)
            result: Any = await execute_known(
                self.schema,
                document,
                context,
                params.variables,
                params.operationName,
                params.extensions,
            )
        else:
            try:
                result = await self.schema.execute(
                    query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operationName,
                    allowed_operation_types=_ALLOWED[mutations],
                    operation_extensions=params.extensions,
                )
            except InvalidOperationTypeError as exc:
                raise self._refused(exc.operation_type, where) from None
            except CannotGetOperationTypeError as exc:
                raise _field_error(f"{where}.operationName", exc.as_http_error_reason()) from None
            except MissingQueryError:
                raise _field_error(f"{where}.query", "a GraphQL document is required") from None
        # Variables that do not coerce fail before execution too, with errors without a path
        # (a field's error always has one): a request error for the spec, like a parse error.
        executed = not isinstance(result, PreExecutionError) and not (
            result.data is None and result.errors and all(e.path is None for e in result.errors)
        )
        doc = response_document(result, self.debug, executed=executed)
        return self._respond(request, doc, rejected=not executed)

    def _refused(self, operation_type: OperationType, where: str) -> Exception:
        """A mutation over GET (405), or a subscription over HTTP (400)."""
        if operation_type is OperationType.MUTATION:
            return MethodNotAllowed(["POST"], "Mutations are sent with POST")
        reason = (
            f"subscriptions go over a WebSocket (graphql-transport-ws) at {self.path}"
            if self.subscriptions
            else "this schema has no subscriptions"
        )
        return _field_error(f"{where}.query", reason)

    def _respond(self, request: Request, doc: dict[str, Any], *, rejected: bool) -> Response:
        """The spec's watershed: the new media type says 400 for a rejected document."""
        if GRAPHQL_RESPONSE in request.headers.get("accept", ""):
            status = 400 if rejected else 200
            return Response(encode_json(doc), status, {"content-type": GRAPHQL_RESPONSE})
        return Response(encode_json(doc), 200, {"content-type": "application/json"})


_ALLOWED = {
    True: frozenset({OperationType.QUERY, OperationType.MUTATION}),
    False: frozenset({OperationType.QUERY}),
}


def _check_context(fn: Callable[..., Any]) -> None:
    """The context function must say it returns a ``Context``, so permissions find the
    request and the app; decided here, not on the first request."""
    if not callable(fn):
        raise ConfigurationError(f"GraphQL(context=...) takes a function, not {fn!r}")
    try:
        returned = typing.get_type_hints(fn).get("return")
    except Exception as exc:
        raise ConfigurationError(
            f"GraphQL(context={getattr(fn, '__qualname__', fn)}): its annotations do not "
            f"resolve ({exc}); import the types it names at module level"
        ) from exc
    origin = typing.get_origin(returned)
    if origin is not None and origin.__name__ in ("AsyncIterator", "AsyncGenerator", "Iterator"):
        returned = typing.get_args(returned)[0]
    if not (isinstance(returned, type) and issubclass(returned, Context)):
        raise ConfigurationError(
            f"GraphQL(context={getattr(fn, '__qualname__', fn)}) must be annotated to return "
            "bastion.graphql.Context or a dataclass subclassing it, e.g. "
            "`async def context(request: Request, db: AsyncSession) -> AppContext`"
        )
