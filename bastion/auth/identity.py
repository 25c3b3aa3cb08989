"""Who a request is from, as the authentication backends see it, and their protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.http.connection import HTTPConnection


@dataclass(frozen=True)
class Identity:
    """Proven credentials: the ``subject`` (a user id, as text) and what they allow.

    ``scopes`` is None when the credential does not narrow what the user may do (a session
    login, a token without a ``scope`` claim); an API key or scoped token gives a set.
    """

    subject: str
    backend: str
    scopes: frozenset[str] | None = None
    roles: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, scopes: frozenset[str]) -> bool:
        return self.scopes is None or scopes <= self.scopes


@runtime_checkable
class AuthBackend(Protocol):
    """One way of proving who you are (a session, a bearer token, an API key).

    ``authenticate`` returns None when the request carries none of this backend's
    credentials, and raises ``Unauthorized`` when it carries invalid ones. ``setup`` runs
    at start-up (keys from settings, checks); ``scheme`` is the OpenAPI security scheme.
    """

    name: str

    def setup(self, app: App[Any]) -> None: ...

    async def authenticate(self, connection: HTTPConnection) -> Identity | None: ...

    def challenge(self) -> str: ...

    def scheme(self) -> dict[str, Any]: ...
