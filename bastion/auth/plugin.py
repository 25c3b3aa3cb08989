"""``AuthPlugin``: run the backends, load the user, hand both to dependencies.

The plugin provides one type, ``Authentication``; ``CurrentUser``, ``OptionalUser`` and the
``requires(...)`` guards ask for it, so a route authenticates only when it declares that it
cares, once per request however many guards it has. ``load_user`` turns an ``Identity``
into your own user object and may ask for dependencies like any other function:

    async def load_user(identity: Identity, db: AsyncSession) -> Account | None:
        return await db.get(Account, int(identity.subject))

    app = App(plugins=[database, AuthPlugin(JWTAuth(secret=KEY), load_user=load_user)])
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from bastion.auth.identity import AuthBackend, Identity
from bastion.auth.login import still_logged_in
from bastion.exceptions import ConfigurationError, Unauthorized
from bastion.http.request import Request

if TYPE_CHECKING:
    from bastion.app import App

_REQUEST = "_bastion_auth_request"


def roles_attribute(user: Any) -> Iterable[str]:
    """The default source of a user's roles: a ``roles`` attribute, if it has one."""
    return getattr(user, "roles", None) or ()


class Authentication:
    """The result for one request: the user (None when anonymous) and the identity."""

    __slots__ = ("identity", "plugin", "user")

    def __init__(self, user: Any, identity: Identity | None, plugin: AuthPlugin) -> None:
        self.user = user
        self.identity = identity
        self.plugin = plugin

    def roles(self) -> frozenset[str]:
        return frozenset(self.plugin.roles(self.user)) if self.user is not None else frozenset()

    def unauthorized(self, detail: str = "Authentication required") -> Unauthorized:
        """A 401 with a ``WWW-Authenticate`` challenge for each configured backend."""
        return Unauthorized(detail, headers={"www-authenticate": self.plugin.challenges})


class AuthPlugin:
    """``AuthPlugin(SessionAuth(), JWTAuth(...), load_user=...)``: backends are tried in
    order; the first that finds its credentials decides (invalid ones are a 401, they never
    fall through to the next). Without ``load_user`` the user is the ``Identity`` itself."""

    def __init__(
        self,
        *backends: AuthBackend,
        load_user: Callable[..., Any] | None = None,
        roles: Callable[[Any], Iterable[str]] = roles_attribute,
    ) -> None:
        if not backends:
            raise ConfigurationError(
                "AuthPlugin needs at least one backend, e.g. AuthPlugin(SessionAuth()) or "
                "AuthPlugin(JWTAuth(secret=...))"
            )
        for backend in backends:
            if not isinstance(backend, AuthBackend):
                raise ConfigurationError(
                    f"AuthPlugin: {backend!r} is not an authentication backend (it needs "
                    "name, setup, authenticate, challenge and scheme; see AuthBackend)"
                )
        names = [b.name for b in backends]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"AuthPlugin: two backends share a name in {names}")
        self.backends = list(backends)
        self.load_user = load_user
        self.roles = roles
        self.challenges = ", ".join(b.challenge() for b in backends)
        #: Where a user asks for a new verification link ("POST /auth/email/verification"),
        #: set by ``VerificationRoutes`` under its prefix; ``requires_verified()`` names it.
        self.verification_route: str | None = None

    def on_app_init(self, app: App[Any]) -> None:
        if any(isinstance(p, AuthPlugin) for p in app.plugins if p is not self):
            raise ConfigurationError("An app takes one AuthPlugin; give it every backend")
        for backend in self.backends:
            backend.setup(app)
            app.security_schemes.setdefault(backend.name, backend.scheme())
        app.provide(Authentication, self._dependency())
        app.provide(AuthPlugin, self._itself, scope="app")  # for IdentityGuard

    def _itself(self) -> AuthPlugin:
        return self

    async def identify(self, request: Request) -> Identity | None:
        """The first backend's identity, None when the request carries no credentials."""
        for backend in self.backends:
            identity = await backend.authenticate(request)
            if identity is not None:
                return identity
        return None

    def _dependency(self) -> Callable[..., Any]:
        """The provider of ``Authentication``: its signature is ``load_user``'s, with the
        identity parameter swapped for the request, so the loader's own dependencies (a
        database session...) are resolved by the app like any other."""
        loader = self.load_user
        if loader is None:

            async def identity_as_user(request: Request) -> Authentication:
                identity = await self.identify(request)
                request.user = identity
                return Authentication(identity, identity, self)

            return identity_as_user
        signature = inspect.signature(loader)
        hints = typing.get_type_hints(loader, include_extras=True)
        slot = next(
            (n for n in signature.parameters if _is_identity(hints.get(n))),
            None,
        )
        if slot is None:
            raise ConfigurationError(
                f"AuthPlugin(load_user={getattr(loader, '__qualname__', loader)}): the loader "
                "needs a parameter annotated `Identity` to receive who authenticated"
            )
        others = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for n, p in signature.parameters.items()
            if n != slot
        ]
        is_async = inspect.iscoroutinefunction(loader)

        async def load(**kwargs: Any) -> Authentication:
            request: Request = kwargs.pop(_REQUEST)
            identity = await self.identify(request)
            user = None
            if identity is not None:
                kwargs[slot] = identity
                if is_async:
                    user = await loader(**kwargs)
                else:
                    import anyio.to_thread

                    user = await anyio.to_thread.run_sync(partial(loader, **kwargs))
                if user is not None and not still_logged_in(identity, user):
                    user = None
            request.user = user
            return Authentication(user, identity if user is not None else None, self)

        request_param = inspect.Parameter(
            _REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request
        )
        parameters = [request_param, *others]
        load.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            parameters, return_annotation=Authentication
        )
        load.__annotations__ = {p.name: hints[p.name] for p in others if p.name in hints}
        load.__annotations__[_REQUEST] = Request
        load.__qualname__ = getattr(loader, "__qualname__", "load_user")
        return load


def _is_identity(annotation: Any) -> bool:
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is Identity
