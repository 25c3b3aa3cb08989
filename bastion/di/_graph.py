"""Dependencies compiled into steps, with cycles and scope errors caught at start-up.

Each ``Depends`` becomes a ``DependencyStep`` holding the compiled plan of the (possibly
overridden) function. Per request a step returns the cached value, or runs its plan and the
function; generator dependencies enter the request's exit stack, so their teardown runs after
the response is sent, and sees the handler's exception if there was one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError
from bastion.http.request import Request

if TYPE_CHECKING:
    from bastion.di.container import Container
    from bastion.params._plan import Plan


class DependencyStep:
    """Produces one dependency's value for a request (or from the app-scope cache)."""

    __slots__ = ("container", "fn", "key", "kind", "manager", "plan", "scope", "use_cache")

    def __init__(self, depends: Depends, fn: Callable[..., Any], plan: Plan, container: Container):
        self.key = depends.dependency
        self.fn = fn
        self.plan = plan
        self.scope = depends.scope
        self.use_cache = depends.use_cache
        self.container = container
        #: Generator functions as context managers, wrapped once here, not per request.
        self.manager: Callable[..., Any] | None = None
        if inspect.isasyncgenfunction(fn):
            self.kind = "asyncgen"
            self.manager = asynccontextmanager(fn)
        elif inspect.isgeneratorfunction(fn):
            self.kind = "gen"
            self.manager = contextmanager(fn)
        elif inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            type(fn).__call__  # an instance with `async def __call__`
        ):
            self.kind = "async"
        else:
            self.kind = "sync"

    async def __call__(self, request: Request) -> Any:
        if self.scope == "app":
            return await self.container.app_value(self)
        cache = request.di_cache
        if self.use_cache and cache is not None and self.key in cache:
            return cache[self.key]
        if request.cleanup is None and self.kind in ("gen", "asyncgen"):
            request.cleanup = AsyncExitStack()
        value = await self.run(request, request.cleanup)
        if self.use_cache:
            if request.di_cache is None:
                request.di_cache = {}
            request.di_cache[self.key] = value
        return value

    async def run(self, request: Request, stack: AsyncExitStack | None) -> Any:
        """Call the function with its own dependencies resolved."""

        kwargs = await self.plan.kwargs(request)
        kind = self.kind
        if kind == "async":
            return await self.fn(**kwargs)
        import anyio.to_thread  # sync kinds only: keeps anyio off the import path

        if kind == "sync":
            return await anyio.to_thread.run_sync(partial(self.fn, **kwargs))
        assert stack is not None and self.manager is not None  # generator kinds
        if kind == "asyncgen":
            return await stack.enter_async_context(self.manager(**kwargs))
        manager = self.manager(**kwargs)
        value = await anyio.to_thread.run_sync(manager.__enter__)
        stack.push_async_exit(partial(_exit_in_thread, manager))
        return value


async def _exit_in_thread(manager: Any, *exc_info: Any) -> bool:
    import anyio.to_thread

    return bool(await anyio.to_thread.run_sync(manager.__exit__, *exc_info))


def dependency_step(
    depends: Depends,
    context: str,
    container: Container,
    path_params: dict[str, Any],
    chain: tuple[Callable[..., Any], ...],
    allow_request: bool,
) -> DependencyStep:
    """Compile ``depends`` (after test overrides) for use at ``context``."""
    from bastion.params._plan import compile_plan

    original = depends.dependency
    if original in chain:
        cycle = " → ".join(_name(f) for f in (*chain[chain.index(original) :], original))
        raise ConfigurationError(f"{context}: circular dependency {cycle}")
    fn = container.overrides.get(original, original)
    if not callable(fn):
        raise ConfigurationError(f"{context}: Depends() needs a callable, got {fn!r}")
    plan = compile_plan(
        fn,
        where=f"{context} → {_name(original)}",
        container=container,
        path_params=path_params if depends.scope == "request" else {},
        chain=(*chain, original),
        allow_request=allow_request and depends.scope == "request",
    )
    return DependencyStep(depends, fn, plan, container)


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
