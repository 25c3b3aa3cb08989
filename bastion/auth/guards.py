"""``CurrentUser``, ``OptionalUser`` and ``requires(...)``: authentication and authorization
as dependencies, on a parameter, a route or a whole router.

* nobody authenticated → 401 with ``WWW-Authenticate``;
* authenticated, but a role or scope is missing → 403.

    @app.get("/me")
    async def me(user: CurrentUser) -> dict: ...

    admin = Router("/admin", dependencies=[requires("admin")])
    app.post("/reports", dependencies=[requires(scopes=["reports:write"])])(...)
    app.post("/posts", dependencies=[requires_verified()])(...)   # 403 until verified

Each guard also tells the OpenAPI document which security schemes the operation takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from bastion.auth.identity import Identity
from bastion.auth.plugin import Authentication, AuthPlugin
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError, Forbidden
from bastion.http.request import Request

if TYPE_CHECKING:
    from bastion.app import App


class Guard:
    """A dependency that checks the request's ``Authentication`` and returns the user."""

    def __init__(
        self,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        *,
        optional: bool = False,
    ) -> None:
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        self.optional = optional

    async def __call__(self, auth: Authentication) -> Any:
        if auth.user is None or auth.identity is None:
            if self.optional:
                return None
            raise auth.unauthorized()
        missing = self.roles - auth.roles()
        if missing:
            raise Forbidden(f"This needs the role {_words(missing)}")
        if self.scopes and not auth.identity.allows(self.scopes):
            lacking = self.scopes - (auth.identity.scopes or frozenset())
            raise Forbidden(f"The credentials used lack the scope {_words(lacking)}")
        return auth.user

    def openapi_security(self, app: App[Any]) -> list[dict[str, list[str]]]:
        """Any of the app's schemes, with this guard's scopes; ``{}`` when optional."""
        plugin = next((p for p in app.plugins if isinstance(p, AuthPlugin)), None)
        names = [b.name for b in plugin.backends] if plugin else []
        requirements: list[dict[str, list[str]]] = [{n: sorted(self.scopes)} for n in names]
        return [*requirements, {}] if self.optional else requirements

    def openapi_refusals(self) -> set[int]:
        """401 for missing or bad credentials (optional guards too: invalid credentials are
        refused), 403 when a role or scope is required."""
        return {401, 403} if self.roles or self.scopes else {401}

    def __repr__(self) -> str:
        return f"requires(roles={sorted(self.roles)}, scopes={sorted(self.scopes)})"


def requires(*roles: str, scopes: Iterable[str] = ()) -> Depends:
    """A guard for ``dependencies=[...]``: the user must have every role, and the
    credentials every scope."""
    return Depends(Guard(roles, scopes))


class VerifiedGuard(Guard):
    """A guard that also wants the user's e-mail address verified (``email_verified_at``
    set; see ``bastion.auth.verification``)."""

    async def __call__(self, auth: Authentication) -> Any:
        user = await super().__call__(auth)
        try:
            verified = user.email_verified_at is not None
        except AttributeError:
            raise ConfigurationError(
                f"requires_verified(): {type(user).__name__} has no email_verified_at; add "
                "the column (see bastion.auth.verification.VerifiableUser)"
            ) from None
        if not verified:
            route = auth.plugin.verification_route
            again = f", or ask for a new one ({route})" if route else ""
            raise Forbidden(
                f"Verify your e-mail address first: follow the link we mailed you{again}",
                extra={"next": "verification"},
            )
        return user

    def openapi_refusals(self) -> set[int]:
        return {401, 403}


def requires_verified(*roles: str, scopes: Iterable[str] = ()) -> Depends:
    """``requires(...)``, and a verified e-mail address (403 until then)."""
    return Depends(VerifiedGuard(roles, scopes))


class IdentityGuard:
    """Who authenticated, without their user row: the verified ``Identity`` (None for an
    anonymous request when ``optional``), and ``load_user`` does not run. For routes that
    need only the caller's id (a read that marks what *you* favourited): one database read
    fewer than ``CurrentUser``. Bad credentials are a 401 as always; a valid token of an
    account deleted since is not refused here (``CurrentUser`` would answer 401, and
    ``OptionalUser`` would treat the request as anonymous)."""

    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    def __init__(self, *, optional: bool = False) -> None:
        self.optional = optional

    async def __call__(self, request: Request, plugin: AuthPlugin) -> Identity | None:
        identity = await plugin.identify(request)
        if identity is None and not self.optional:
            raise Authentication(None, None, plugin).unauthorized()
        return identity

    openapi_security = Guard.openapi_security
    openapi_refusals = Guard.openapi_refusals

    def __repr__(self) -> str:
        return f"IdentityGuard(optional={self.optional})"


current_user = Guard()
optional_user = Guard(optional=True)
#: The authenticated user, or a 401. Annotate your own type for a typed handler:
#: ``Me = Annotated[Account, Depends(current_user)]``.
CurrentUser = Annotated[Any, Depends(current_user)]
#: The authenticated user, or None for anonymous requests (invalid credentials are a 401).
OptionalUser = Annotated[Any, Depends(optional_user)]
current_identity = IdentityGuard()
optional_identity = IdentityGuard(optional=True)
#: Who authenticated (their ``Identity``: ``.subject`` is the user id), or a 401; no user row
#: is loaded.
CurrentIdentity = Annotated[Identity, Depends(current_identity)]
#: Who authenticated, or None for anonymous requests (bad credentials are a 401); no user row
#: is loaded.
OptionalIdentity = Annotated[Identity | None, Depends(optional_identity)]


def _words(names: frozenset[str]) -> str:
    ordered = sorted(names)
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " and " + ordered[-1]
