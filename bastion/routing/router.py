"""Groups of routes: a prefix, tags, dependencies and middleware shared by what they hold.

A ``Router`` only collects; ``flatten`` hands the app every route with its full path and the
layered options (router outside, route inside) when the app starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Unpack

from bastion.exceptions import ConfigurationError
from bastion.routing.route import HTTP_METHODS, Mount, Route, RouteOptions, WebSocketRoute

F = TypeVar("F", bound=Callable[..., Any])


class Router:
    """``Router(prefix="/api", tags=["api"], dependencies=[...], middleware=[...])``;
    ``versions=`` gives its routes API versions (see ``routing/versioning.py``)."""

    def __init__(
        self,
        prefix: str = "",
        *,
        tags: Sequence[str] = (),
        dependencies: Sequence[Any] = (),
        middleware: Sequence[Any] = (),
        routes: Sequence[Route | WebSocketRoute | Mount] = (),
        versions: Any = None,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ConfigurationError(
                f"Router prefix {prefix!r} must start with '/' and not end with one, e.g. '/api'"
            )
        self.prefix = prefix
        self.tags = list(tags)
        self.dependencies = list(dependencies)
        self.middleware = list(middleware)
        self.routes: list[Route | WebSocketRoute | Mount] = list(routes)
        self.children: list[Router] = []
        #: The API versions of routes that name none (``routing/versioning.py``).
        self.versions = versions

    # -- declaring routes ------------------------------------------------------------------
    def route(
        self, path: str, methods: Sequence[str], **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Register the decorated function for ``methods`` at ``path``."""
        upper = tuple(m.upper() for m in methods)
        for method in upper:
            if method not in HTTP_METHODS:
                raise ConfigurationError(f"Route {path!r}: unknown HTTP method {method!r}")

        def decorator(handler: F) -> F:
            self.routes.append(Route(path, upper, handler, options))
            return handler

        return decorator

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
        def decorator(handler: F) -> F:
            self.routes.append(WebSocketRoute(path, handler, options))
            return handler

        return decorator

    # -- composing -------------------------------------------------------------------------
    def include(self, other: Router | type[Controller]) -> None:
        """Nest a router (or a controller class) under this one."""
        if isinstance(other, type) and issubclass(other, Controller):
            other = other.as_router()
        if not isinstance(other, Router):
            raise ConfigurationError(f"include() takes a Router or Controller, not {other!r}")
        self.children.append(other)

    def mount(self, prefix: str, app: Any, *, name: str | None = None) -> None:
        """Serve any ASGI app under ``prefix`` (the prefix is stripped from its ``path``)."""
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ConfigurationError(f"Mount prefix {prefix!r} must look like '/static'")
        self.routes.append(Mount(prefix, app, name))

    def flatten(self) -> list[Route | WebSocketRoute | Mount]:
        """Every route below this router, with full paths and layered options."""
        result: list[Route | WebSocketRoute | Mount] = []
        for item in [*self.routes, *(r for c in self.children for r in c.flatten())]:
            result.append(self._layer(item))
        return result

    def _layer(self, item: Route | WebSocketRoute | Mount) -> Route | WebSocketRoute | Mount:
        if isinstance(item, Mount):
            return Mount(self.prefix + item.prefix, item.app, item.name)
        options = RouteOptions(**item.options)
        options["tags"] = [*self.tags, *options.get("tags", ())]
        options["dependencies"] = [*self.dependencies, *options.get("dependencies", ())]
        options["middleware"] = [*self.middleware, *options.get("middleware", ())]
        if self.versions is not None and options.get("versions") is None:
            options["versions"] = self.versions
        path = self.prefix + item.path if item.path != "/" or not self.prefix else self.prefix
        if isinstance(item, WebSocketRoute):
            return WebSocketRoute(path, item.handler, options)
        return Route(path, item.methods, item.handler, options)


# -- class-based controllers ------------------------------------------------------------------
@dataclass
class _Declared:
    path: str
    methods: tuple[str, ...] | None  # None: websocket
    options: RouteOptions


def _declare(methods: tuple[str, ...] | None) -> Callable[..., Callable[[F], F]]:
    def factory(path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        def decorator(fn: F) -> F:
            fn.__bastion_route__ = _Declared(path, methods, options)  # type: ignore[attr-defined]
            return fn

        return decorator

    return factory


#: Route decorators for controller methods (``@get("/{id}")`` inside a ``Controller``).
get = _declare(("GET",))
post = _declare(("POST",))
put = _declare(("PUT",))
patch = _declare(("PATCH",))
delete = _declare(("DELETE",))
websocket = _declare(None)


class Controller:
    """Routes that share a prefix, tags, dependencies and middleware, written as methods.

    One instance serves every request, so keep per-request data out of ``self``::

        class Users(Controller):
            prefix = "/users"
            tags = ["users"]

            @get("/{user_id}")
            async def show(self, user_id: int) -> User: ...
    """

    prefix: str = ""
    tags: Sequence[str] = ()
    dependencies: Sequence[Any] = ()
    middleware: Sequence[Any] = ()

    @classmethod
    def as_router(cls) -> Router:
        router = Router(
            cls.prefix, tags=cls.tags, dependencies=cls.dependencies, middleware=cls.middleware
        )
        instance = cls()
        for attr in dir(cls):
            declared = getattr(getattr(cls, attr), "__bastion_route__", None)
            if not isinstance(declared, _Declared):
                continue
            handler = getattr(instance, attr)
            if declared.methods is None:
                router.routes.append(WebSocketRoute(declared.path, handler, declared.options))
            else:
                router.routes.append(
                    Route(declared.path, declared.methods, handler, declared.options)
                )
        if not router.routes:
            raise ConfigurationError(
                f"Controller {cls.__name__} declares no routes; decorate methods with "
                "bastion.get/post/... "
            )
        return router
