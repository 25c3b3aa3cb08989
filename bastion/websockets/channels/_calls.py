"""Channel hooks and handlers compiled once, like route handlers, then called per message.

Some arguments come from the protocol (``topic``, ``params``, ``payload``, the channel
itself); the rest are ordinary parameters resolved from the socket's handshake request:
dependencies, headers, cookies, query parameters. Each call is a small request of its own,
so a ``yield`` dependency (a database session) is set up and torn down per message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.di.container import teardown
from bastion.http.request import Request
from bastion.params._plan import compile_plan, signature_of
from bastion.params._types import strip_annotated
from bastion.types import Scope
from bastion.websockets.channels.channel import ChannelError

if TYPE_CHECKING:
    from bastion.di.container import Container


class _Self:
    """Marks a method's first parameter: the channel, supplied by the socket."""


class Call:
    """One function (or unbound channel method) with its plan and its given arguments."""

    __slots__ = ("fn", "given", "plan", "self_name")

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        where: str,
        container: Container,
        given: Sequence[str],
        method: bool = False,
    ) -> None:
        signature, hints = signature_of(fn)
        parameters = list(signature.parameters)
        types: dict[str, Any] = {}
        self.self_name = parameters[0] if method else None
        if self.self_name is not None:
            types[self.self_name] = _Self
        #: name → the annotation its raw value is converted to (None: passed as it is).
        self.given: dict[str, Any] = {}
        for name in given:
            if name in signature.parameters:
                annotation = hints.get(name, Any)
                types[name] = strip_annotated(annotation)[0]
                self.given[name] = None if annotation is Any else annotation
        self.fn = fn
        self.plan = compile_plan(fn, where=where, container=container, path_params=types)

    async def __call__(self, scope: Scope, values: dict[str, Any], channel: Any = None) -> Any:
        """Call with ``values`` for the given names (and ``channel`` as a method's ``self``).

        A payload of the wrong shape raises ``ChannelError`` before anything runs.
        """
        arguments: dict[str, Any] = {}
        if self.self_name is not None:
            arguments[self.self_name] = channel
        for name, annotation in self.given.items():
            value = values.get(name)
            if annotation is not None:
                try:
                    value = msgspec.convert(value, annotation)
                except msgspec.ValidationError as exc:
                    raise ChannelError({"reason": f"invalid {name}", "errors": str(exc)}) from None
            arguments[name] = value
        request = Request(scope, _no_receive, arguments)
        error: BaseException | None = None
        try:
            kwargs = await self.plan.kwargs(request)
            result = await self.fn(**kwargs)
            for hook in request.before_send or ():
                await hook()  # e.g. the database session's commit
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            if request.cleanup is not None:
                await teardown(request, error)


async def _no_receive() -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": 1000}
