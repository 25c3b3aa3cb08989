"""A job's dependencies compiled once, when the worker starts, into a ``Runner``.

The job's signature minus its arguments is compiled by the same planner as handlers
(``compile_plan``), so ``Depends``, providers (``AsyncSession``) and app-scoped values behave
as in a request. Per run: a request-shaped context, the plan's steps, the function, then
what a request does after its handler (the session's commit), then ``yield`` teardown.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bastion.params._plan import call_planned, compile_plan, injected_only

if TYPE_CHECKING:
    from bastion.di.container import Container
    from bastion.jobs.job import Job
    from bastion.params._plan import Plan


class Runner:
    """Runs one job with its dependencies injected; build with ``compile_runner``."""

    __slots__ = ("container", "fn", "job", "plan", "spec")

    def __init__(self, job: Job[Any, Any], container: Container | None) -> None:
        self.job = job
        self.spec = job.spec
        self.container = container
        self.fn = _as_async(job.fn)
        self.plan: Plan | None = None
        if self.spec.dependencies:
            if container is None:
                from bastion.exceptions import ConfigurationError

                raise ConfigurationError(
                    f"job {job.name} needs dependencies ({', '.join(self.spec.dependencies)}) "
                    "but its registry belongs to no app: add JobsPlugin(jobs) to the App"
                )
            self.plan = compile_plan(
                injected_only(job.fn, self.spec.dependencies),
                where=f"job {job.name}",
                container=container,
            )

    async def __call__(self, kwargs: dict[str, Any]) -> Any:
        plan = self.plan
        if plan is None:
            return await self.fn(**kwargs)
        assert self.container is not None
        return await call_planned(plan, self.fn, kwargs, self.container.bare_request())


def _as_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Async functions as they are; a sync job runs in a thread (it cannot be timed out)."""
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    if inspect.iscoroutinefunction(target):
        return fn

    @functools.wraps(fn)
    async def in_thread(**kwargs: Any) -> Any:
        import anyio.to_thread

        result = await anyio.to_thread.run_sync(functools.partial(fn, **kwargs))
        if inspect.isawaitable(result):
            result = await result
        return result

    return in_thread
