"""A servicer method's signature compiled once, at start-up: which parameters are injected
(the same planner as routes), how its message is converted and checked, and how it is
called (async as it is, a plain function in a thread).

The first two parameters are gRPC's (the request message, or the stream of them, and the
``ServicerContext``), as in the generated base class; every further parameter must be a
dependency, or the start-up stops with a sentence naming it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.di.container import provider_for
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError, ValidationError
from bastion.http.request import Request
from bastion.params import _types as t
from bastion.params._errors import from_msgspec
from bastion.params._plan import Plan, compile_plan, injected_only, signature_of

if TYPE_CHECKING:
    from bastion.app import App


def compile_method(
    app: App[Any], fn: Callable[..., Any], where: str, request_streaming: bool
) -> tuple[Plan | None, Callable[[Any], Any] | None]:
    """The plan of ``fn``'s injected parameters, and the conversion of its message."""
    signature, hints = signature_of(fn)
    parameters = list(signature.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(parameters) < 2 or any(p.kind not in positional for p in parameters[:2]):
        raise ConfigurationError(
            f"{where}: its first two parameters receive the request and the context, as in "
            "the generated base class: `async def Method(self, request, context, ...)`"
        )
    providers = app.container.providers
    injected: list[str] = []
    for parameter in parameters[2:]:
        base, extras = t.split_annotation(hints.get(parameter.name, Any))
        if (
            isinstance(parameter.default, Depends)
            or any(isinstance(e, Depends) for e in extras)
            or provider_for(providers, base) is not None
            or (isinstance(base, type) and issubclass(base, Request))
        ):
            injected.append(parameter.name)
        else:
            raise ConfigurationError(
                f"{where}: parameter `{parameter.name}` is neither gRPC's nor a dependency; "
                "give it Depends(...) or a type a provider serves (AsyncSession with "
                "SQLAlchemyPlugin, CurrentUser with AuthPlugin, Request)"
            )
    plan = None
    if injected:
        plan = compile_plan(
            injected_only(fn, injected, hints), where=where, container=app.container
        )
    target = hints.get(parameters[0].name)
    convert = None
    if isinstance(target, type) and issubclass(target, msgspec.Struct):
        if request_streaming:
            raise ConfigurationError(
                f"{where}: a request stream is not converted to {target.__name__}; annotate "
                "it with the message type and convert each message yourself"
            )
        convert = _converter(target)
    return plan, convert


def _converter(target: type[msgspec.Struct]) -> Callable[[Any], Any]:
    """Message → ``target``, checked: proto3 sends every field (defaults too), named as in
    the .proto file, so constraints like ``Meta(min_length=1)`` see what the client sent."""
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

    def convert(message: Any) -> Any:
        data = MessageToDict(
            message,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
        )
        try:
            return msgspec.convert(data, target, strict=False)
        except msgspec.ValidationError as exc:
            error = from_msgspec("", str(exc), root=target)
            error["field"] = error["field"].lstrip(".") or "request"
            error.pop("pointer", None)
            raise ValidationError([error]) from None

    return convert


def as_async(fn: Callable[..., Any], where: str) -> tuple[Callable[..., Any], bool]:
    """The method as an async callable, and whether it is an async generator (a response
    stream); a plain function runs in a thread, a plain generator is refused."""
    if inspect.isasyncgenfunction(fn):
        return fn, True
    if inspect.iscoroutinefunction(fn):
        return fn, False
    if inspect.isgeneratorfunction(fn):
        raise ConfigurationError(
            f"{where}: a response stream is written as an async generator "
            "(`async def ...: yield reply`), not a plain generator"
        )

    @functools.wraps(fn)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    return in_thread, False
