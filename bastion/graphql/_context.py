"""``info.context``: the request, the signed-in user, and what the app's context function adds.

The app's ``context=`` function is a Bastion dependency: its parameters (a database session,
``PubSub``, an app-scoped service, ``Request``) are injected once per HTTP request, and once
per operation over the WebSocket (closed when the operation ends). It returns a ``Context``;
subclass it (as a dataclass) to add fields, DataLoaders among them, so each request gets its
own batch cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.http.request import Request

if TYPE_CHECKING:
    from bastion.auth.plugin import Authentication


@dataclass
class Context:
    """What every resolver finds in ``info.context``; subclass it to add your own fields."""

    request: Request
    #: Set by the endpoint: how permissions reach the app's authentication.
    graphql: Any = field(default=None, init=False, repr=False, compare=False)
    #: Over WebSocket, the ``connection_init`` payload (a token, a locale...); None over HTTP.
    connection_params: dict[str, Any] | None = field(default=None, init=False, compare=False)

    async def authentication(self) -> Authentication:
        """Who sent the request (computed once per request, on first use)."""
        if self.graphql is None:
            raise RuntimeError("Context.authentication() works in resolvers run by GraphQL(...)")
        result: Authentication = await self.graphql.authentication(self.request)
        return result

    async def user(self) -> Any:
        """The signed-in user, or None when anonymous."""
        return (await self.authentication()).user


async def default_context(request: Request) -> Context:
    """The context when the app gives none: just the request."""
    return Context(request)
