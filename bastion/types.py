"""ASGI aliases and the callable shapes Bastion is built from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.http.request import Request
    from bastion.http.response import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: A compiled endpoint: a request in, a response out. Routes, middleware chains and the app
#: core all have this shape, which is what lets onion middleware wrap any of them.
Endpoint = Callable[["Request"], Awaitable["Response"]]
CallNext = Endpoint
#: Onion middleware: ``async def mw(request, call_next) -> Response``.
MiddlewareFunction = Callable[["Request", CallNext], Awaitable["Response"]]
#: Raw ASGI middleware: a class (or factory) taking the wrapped ASGI app plus options.
ASGIMiddlewareFactory = Callable[..., ASGIApp]
#: An endpoint's answer from the scope alone, before a ``Request`` exists: the start and body
#: messages, or None to serve the request the usual way (``App.answer_early``); or an
#: awaitable of either, when the answer needs a round trip (a shared cache).
EarlyMessages = tuple[Message, Message] | None
EarlyAnswer = Callable[[Scope], EarlyMessages | Awaitable[EarlyMessages]]
