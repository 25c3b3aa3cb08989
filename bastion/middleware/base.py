"""Composing middleware: onion functions around endpoints, ASGI classes around apps.

Three shapes are accepted wherever middleware is (app, router, route):

* a function or callable object ``async def mw(request, call_next) -> Response`` (onion);
* a class taking the ASGI app as first argument (raw ASGI middleware);
* ``ASGIMiddleware(cls, **options)`` for a raw ASGI class that needs options.

The shape is decided once, when the app starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from functools import partial
from typing import Any

from bastion.exceptions import ConfigurationError
from bastion.types import ASGIApp, Endpoint, MiddlewareFunction


class ASGIMiddleware:
    """A raw ASGI middleware class with its options: ``ASGIMiddleware(Cls, opt=1)``."""

    def __init__(self, cls: Any, /, **options: Any) -> None:
        self.cls = cls
        self.options = options

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return self.cls(app, **self.options)  # type: ignore[no-any-return]


def split(
    middleware: Sequence[Any], where: str
) -> tuple[list[MiddlewareFunction], list[ASGIMiddleware]]:
    """Separate onion functions from raw ASGI middleware, validating each."""
    functions: list[MiddlewareFunction] = []
    asgi: list[ASGIMiddleware] = []
    for mw in middleware:
        if isinstance(mw, ASGIMiddleware):
            asgi.append(mw)
        elif inspect.isclass(mw):
            asgi.append(ASGIMiddleware(mw))
        elif callable(mw):
            functions.append(mw)
        else:
            raise ConfigurationError(
                f"{where}: middleware {mw!r} is neither an `async def mw(request, call_next)` "
                "function nor an ASGI middleware class"
            )
    return functions, asgi


def chain(functions: Sequence[MiddlewareFunction], endpoint: Endpoint) -> Endpoint:
    """Wrap ``endpoint`` so the first function is the outermost layer."""
    for mw in reversed(functions):
        endpoint = _layer(mw, endpoint)
    return endpoint


def _layer(mw: MiddlewareFunction, call_next: Endpoint) -> Endpoint:
    """``mw`` with its ``call_next`` bound: a ``partial`` (no coroutine of its own per request)
    when that parameter can be passed by name, else a small coroutine that passes it."""
    name = _call_next_name(mw)
    if name is not None:
        return partial(mw, **{name: call_next})

    async def layer(request: Any) -> Any:
        return await mw(request, call_next)

    return layer


def _call_next_name(mw: MiddlewareFunction) -> str | None:
    """The name of ``mw``'s second parameter, if it takes exactly two and that one by name."""
    try:
        parameters = list(inspect.signature(mw).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): pass it by position
        return None
    if len(parameters) != 2:
        return None
    request, call_next = parameters
    kind = inspect.Parameter
    if request.kind not in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD):
        return None
    if call_next.kind not in (kind.POSITIONAL_OR_KEYWORD, kind.KEYWORD_ONLY):
        return None
    return call_next.name


def wrap_asgi(middleware: Sequence[ASGIMiddleware], app: ASGIApp) -> ASGIApp:
    for mw in reversed(middleware):
        app = mw.wrap(app)
    return app
