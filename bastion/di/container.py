"""The dependency container: providers by type, test overrides, and app-scoped values.

The same container serves HTTP handlers, WebSocket handlers and code outside any request
(CLI commands, background jobs) through ``Container.call``.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar

from bastion.di.depends import Depends
from bastion.http.background import BackgroundTasks, background_tasks
from bastion.http.request import Request

if TYPE_CHECKING:
    from bastion.di._graph import DependencyStep

T = TypeVar("T")


class Overrides(dict[Callable[..., Any], Callable[..., Any]]):
    """``app.dependency_overrides``: any change makes the app recompile its plans."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        super().__init__()
        self._on_change = on_change

    def __setitem__(self, key: Callable[..., Any], value: Callable[..., Any]) -> None:
        super().__setitem__(key, value)
        self._on_change()

    def __delitem__(self, key: Callable[..., Any]) -> None:
        super().__delitem__(key)
        self._on_change()

    def clear(self) -> None:
        super().clear()
        self._on_change()

    def pop(self, key: Any, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._on_change()
        return value


def provider_for(providers: Mapping[Any, Depends], tp: Any) -> Depends | None:
    """The provider of ``tp``; one registered for a generic class serves its parameterized
    forms too, since ``mypy --strict`` wants ``model: ServedModel[list[float], str]``."""
    return providers.get(tp) or providers.get(typing.get_origin(tp))


class Container:
    """Holds what dependencies need beyond a request."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        #: ``tasks: BackgroundTasks`` works in every app: its teardown runs after the response.
        self.providers: dict[Any, Depends] = {BackgroundTasks: Depends(background_tasks)}
        self.overrides = Overrides(on_change)
        self._app_values: dict[Any, Any] = {}
        self._app_stack = AsyncExitStack()
        self._lock: Any = None  # an asyncio.Lock, made in the running loop on first use
        self._app_steps: list[DependencyStep] = []

    def provide(self, tp: Any, dependency: Callable[..., Any], *, scope: str = "request") -> None:
        """Make every parameter annotated ``tp`` receive ``dependency``'s result."""
        self.providers[tp] = Depends(dependency, scope=scope)  # type: ignore[arg-type]

    def register_app_step(self, step: DependencyStep) -> None:
        self._app_steps.append(step)

    async def app_value(self, step: DependencyStep) -> Any:
        """The app-scoped value, created on first use (or at start-up) and kept."""
        try:
            return self._app_values[step.key]
        except KeyError:
            pass
        if self._lock is None:
            import asyncio

            self._lock = asyncio.Lock()
        async with self._lock:
            if step.key not in self._app_values:
                request = self.bare_request()
                self._app_values[step.key] = await step.run(request, self._app_stack)
        return self._app_values[step.key]

    async def startup(self) -> None:
        for step in self._app_steps:
            await self.app_value(step)

    async def shutdown(self) -> None:
        """Tear down app-scoped values (their ``yield`` teardown runs here)."""
        stack, self._app_stack = self._app_stack, AsyncExitStack()
        self._app_values.clear()
        await stack.aclose()

    def bare_request(self) -> Request:
        """A request-shaped context for code outside HTTP (nothing to read but the app)."""
        scope = {
            "type": "background",
            "app": self.app,
            "headers": [],
            "query_string": b"",
            "path": "",
            "method": "",
            "path_params": {},
        }
        return Request(scope, _no_receive)

    app: Any = None

    async def call(self, fn: Callable[..., Any], /, **given: Any) -> Any:
        """Call ``fn`` with its dependencies injected, outside any HTTP request.

        ``given`` supplies parameters by name. Request-scoped ``yield`` dependencies are torn
        down when the call returns.
        """
        from bastion.params._plan import compile_plan

        plan = compile_plan(
            fn,
            where=f"call of {getattr(fn, '__qualname__', fn)}",
            container=self,
            path_params={k: type(v) for k, v in given.items()},
        )
        request = self.bare_request()
        request.path_params = dict(given)
        async with AsyncExitStack() as stack:
            request.cleanup = stack
            kwargs = await plan.kwargs(request)
            result = fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def teardown(request: Request, error: BaseException | None) -> None:
    """Run ``yield`` dependency teardown after the response, telling it about any error."""
    stack = request.cleanup
    if stack is None:
        return
    try:
        if error is None:
            await stack.aclose()
        else:
            await stack.__aexit__(type(error), error, error.__traceback__)
    except Exception as exc:
        if exc is not error:
            logging.getLogger("bastion.error").error("Error in dependency teardown", exc_info=exc)
