"""Handler signatures compiled into plans, once per route at start-up.

A ``Plan`` is the list of steps that produce a function's keyword arguments from a request:
sync extractors (path, query, header, cookie, the request itself) whose errors are gathered
into one 422, then async ones (body, form, dependencies). ``compile_plan`` is the only place
that looks at annotations; the request path only runs the steps.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.di.container import provider_for
from bastion.di.depends import Depends
from bastion.exceptions import (
    ConfigurationError,
    FieldError,
    ValidationError,
)
from bastion.http.request import Request
from bastion.params import _types as t
from bastion.params._body import body_step
from bastion.params._errors import InvalidParam
from bastion.params._extract import check_constraints, sync_step
from bastion.params.markers import File, Form, Param, Path, Query

if TYPE_CHECKING:
    from bastion.di.container import Container

SyncStep = Callable[[Request], Any]
AsyncStep = Callable[[Request], Awaitable[Any]]
_EMPTY = inspect.Parameter.empty


@dataclass
class ParamInfo:
    """What OpenAPI and ``bastion routes`` need to know about one parameter."""

    name: str
    location: str  # path, query, header, cookie, body, form, dependency, request
    wire_name: str
    annotation: Any
    required: bool
    default: Any = None
    marker: Param | None = None


@dataclass
class Plan:
    """The compiled call of one function (a handler or a dependency)."""

    fn: Callable[..., Any]
    sync_steps: list[tuple[str, SyncStep]] = field(default_factory=list)
    async_steps: list[tuple[str, AsyncStep]] = field(default_factory=list)
    params: list[ParamInfo] = field(default_factory=list)
    dependencies: list[Any] = field(default_factory=list)  # DependencyStep, for the graph
    path_only: bool = False  # every argument is a path parameter, unconverted

    def kwargs_sync(self, request: Request) -> dict[str, Any]:
        """Run the sync extractors, gathering every invalid field into one 422."""
        kwargs: dict[str, Any] = {}
        errors: list[FieldError] | None = None
        for name, extract in self.sync_steps:
            try:
                kwargs[name] = extract(request)
            except InvalidParam as exc:
                errors = [*(errors or ()), *exc.errors]
        if errors:
            raise InvalidParam(errors)
        return kwargs

    async def kwargs(self, request: Request) -> dict[str, Any]:
        """Invalid parameters, body fields and form fields are reported together, in one 422."""
        errors: list[FieldError] = []
        try:
            kwargs = self.kwargs_sync(request) if self.sync_steps else {}
        except InvalidParam as exc:
            kwargs, errors = {}, exc.errors
        for name, extract in self.async_steps:
            if errors and any(extract is step for step in self.dependencies):
                continue  # no dependency runs for a request already refused
            try:
                kwargs[name] = await extract(request)
            except InvalidParam as exc:  # a body or form field (a dependency raises its own)
                errors += exc.errors
        if errors:
            raise ValidationError(errors)
        return kwargs

    @property
    def body(self) -> ParamInfo | None:
        return next((p for p in self.params if p.location in ("body", "form")), None)


@functools.cache
def signature_of(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    """A callable's signature and resolved annotations (cached: routes ask several times)."""
    if inspect.isclass(fn):
        target: Any = fn.__init__
    elif inspect.isfunction(fn) or inspect.ismethod(fn):
        target = fn
    else:  # a callable instance
        target = type(fn).__call__
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except NameError as exc:
        raise ConfigurationError(
            f"Cannot resolve the annotations of {_name(fn)}: {exc}. Import the type at module "
            "level (not only under TYPE_CHECKING)"
        ) from None
    return inspect.signature(fn), hints


def compile_plan(
    fn: Callable[..., Any],
    *,
    where: str,
    container: Container,
    path_params: dict[str, Any] | None = None,
    chain: tuple[Callable[..., Any], ...] = (),
    allow_request: bool = True,
) -> Plan:
    """Compile ``fn``'s signature. ``where`` names the route for error messages; ``chain`` is
    the dependency path so far (to report cycles); ``allow_request=False`` for app scope."""
    from bastion.di._graph import dependency_step

    signature, hints = signature_of(fn)
    plan = Plan(fn)
    path_params = path_params or {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        # An unannotated parameter is a string, as in every framework users come from.
        annotation = hints.get(name, path_params.get(name, str))
        base, extras = t.split_annotation(annotation)
        default = parameter.default
        depends = next((e for e in extras if isinstance(e, Depends)), None)
        marker = next((e for e in extras if isinstance(e, Param)), None)
        context = f"{where} parameter `{name}`"
        if depends is None and isinstance(default, Depends):
            depends = default
        if depends is None:
            depends = provider_for(container.providers, base)
        if depends is not None:
            step = dependency_step(depends, context, container, path_params, chain, allow_request)
            plan.async_steps.append((name, step))
            plan.dependencies.append(step)
            plan.params.append(ParamInfo(name, "dependency", name, base, True))
            continue
        if isinstance(base, type) and issubclass(base, Request):
            plan.sync_steps.append((name, _request))
            plan.params.append(ParamInfo(name, "request", name, base, True))
            continue
        if _is_websocket(base):
            plan.sync_steps.append((name, _websocket))
            plan.params.append(ParamInfo(name, "request", name, base, True))
            continue
        location = _location(name, base, marker, path_params)
        if marker is None and location in ("path", "query"):
            marker = _marker_from_meta(location, extras)
        if location is None:
            raise ConfigurationError(
                f"{context}: nothing provides {t.type_name(base)}. Declare where it comes from "
                f"with Annotated[{t.type_name(base)}, Depends(...)], register a provider with "
                f"app.provide({t.type_name(base)}, ...), or add the plugin that provides it"
            )
        if not allow_request and location != "path":
            raise ConfigurationError(
                f"{context}: an app-scoped dependency cannot read the request ({location}); "
                "make the dependency request-scoped or remove the parameter"
            )
        if marker is not None:
            check_constraints(base, marker, context)
        required = default is _EMPTY
        wire = (marker.alias if marker else None) or (
            name.replace("_", "-") if location == "header" else name
        )
        info = ParamInfo(
            name, location, wire, annotation, required, None if required else default, marker
        )
        plan.params.append(info)
        if location in ("body", "form"):
            body = body_step(
                location,
                wire,
                base,
                marker,
                required,
                info.default,
                context,
                t.is_upload(base),
                getattr(container.app, "negotiation", None),
            )
            plan.async_steps.append((name, body))
        else:
            plan.sync_steps.append(
                (
                    name,
                    sync_step(
                        name,
                        location,
                        wire,
                        base,
                        marker,
                        required,
                        info.default,
                        path_params,
                    ),
                )
            )
    plan.path_only = (
        bool(plan.sync_steps)
        and not plan.async_steps
        and all(
            p.location == "path" and p.marker is None and path_params.get(p.name) is p.annotation
            for p in plan.params
        )
    )
    return plan


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _is_websocket(tp: Any) -> bool:
    from bastion.websockets.websocket import WebSocket

    return isinstance(tp, type) and issubclass(tp, WebSocket)


def _request(request: Request) -> Request:
    return request


def _websocket(request: Request) -> Any:
    return request.scope["bastion.websocket"]


_META_CONSTRAINTS = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")


def _marker_from_meta(location: str, extras: tuple[Any, ...]) -> Param | None:
    """``Annotated[int, msgspec.Meta(ge=1)]`` on a path or query parameter: the constraints
    apply as if written ``Query(ge=1)`` (ignored otherwise, in checks and OpenAPI alike)."""
    meta = next((e for e in extras if isinstance(e, msgspec.Meta)), None)
    if meta is None:
        return None
    given = {k: getattr(meta, k) for k in _META_CONSTRAINTS if getattr(meta, k) is not None}
    if not given and meta.description is None:
        return None
    marker = Path if location == "path" else Query
    return marker(description=meta.description, **given)


def _location(
    name: str, base: Any, marker: Param | None, path_params: dict[str, Any]
) -> str | None:
    if marker is not None:
        if isinstance(marker, Form | File):
            return "form"
        return marker.location
    if name in path_params:
        return "path"
    if t.is_upload(base):
        return "form"
    if t.is_structured(base):
        return "body"
    if t.is_scalar(base) or (
        t.sequence_item(base) is not None and t.is_scalar(t.sequence_item(base))
    ):
        return "query"
    return None


def injected_only(
    fn: Callable[..., Any], names: list[str], hints: dict[str, Any] | None = None
) -> Callable[..., Any]:
    """A stand-in with only ``fn``'s injected parameters, for ``compile_plan``: jobs,
    message handlers and gRPC methods get their other arguments from their message."""
    signature, resolved = signature_of(fn)
    hints = resolved if hints is None else hints
    kept = [p for name, p in signature.parameters.items() if name in names]

    def dependencies(**kwargs: Any) -> None:  # never called
        raise NotImplementedError

    dependencies.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    dependencies.__annotations__ = {name: hints[name] for name in names if name in hints}
    dependencies.__qualname__ = getattr(fn, "__qualname__", "function")
    return dependencies


async def call_planned(
    plan: Plan, fn: Callable[..., Any], kwargs: dict[str, Any], request: Request
) -> Any:
    """``fn(**kwargs)`` with ``plan``'s dependencies, outside HTTP (``request`` is the
    container's ``bare_request()``): request-scoped teardowns run when it returns, and the
    hooks a route runs before its response (the database session's commit) run first."""
    async with AsyncExitStack() as stack:
        request.cleanup = stack
        kwargs.update(await plan.kwargs(request))
        result = await fn(**kwargs)
        for hook in request.before_send or ():
            await hook()
        return result
