"""``SocialRoutes``: sign-in with GitHub, Google or any OpenID Connect provider.

``GET {prefix}/{provider}/login`` keeps a fresh ``state``, ``nonce`` and PKCE verifier in the
session and redirects to the provider; ``/callback`` takes each of them back exactly once,
has the provider's answer checked (``providers.py``) and then decides what the provider
account means here: the user it is linked to; with a logged-in link step, the user who
started it; else the account whose e-mail the provider *verified* (linked now) or a new
account. An unverified e-mail never links or creates anything, whether or not an account
has it, so the refusal says nothing about which addresses have accounts.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.auth._templates import AppTemplates, auth_templates
from bastion.auth.backends.jwt import JWTAuth
from bastion.auth.backends.session import SESSION_KEY
from bastion.auth.guards import CurrentUser
from bastion.auth.identity import Identity
from bastion.auth.login import login
from bastion.auth.pages import AccountPages
from bastion.auth.plugin import AuthPlugin
from bastion.auth.routes import AuthRoutes
from bastion.auth.sessions.plugin import SessionPlugin
from bastion.auth.social.models import ReadyUsers, SocialAccount, SocialUsers, new_secret
from bastion.auth.social.providers import (
    GitHubProvider,
    GoogleProvider,
    OIDCProvider,
    Provider,
    SocialError,
    SocialProfile,
)
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError, Conflict, HTTPError, NotFound
from bastion.http.request import Request
from bastion.http.response import RedirectResponse, Response
from bastion.params.markers import Query
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.app import App

#: Where pending sign-ins wait in the session, by provider name.
FLOW_KEY = "_social_flows"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
Param = Annotated[str | None, Query(max_length=2048)]


class LinkedAccount(msgspec.Struct):
    provider: str
    email: str | None
    linked_at: str


class SocialRoutes:
    """``App(plugins=[database, SessionPlugin(), AuthPlugin(SessionAuth(), load_user=...),
    SocialRoutes(providers={"github": GitHubProvider(...), "acme": OIDCProvider(...)})])``.

    Providers may also come from ``settings.social_credentials``
    (``BASTION_SOCIAL_CREDENTIALS='{"github": {"client_id": "...", "client_secret": "..."}}'``;
    ``github`` and ``google`` are known, any other name needs an ``issuer``).
    ``register=False`` refuses to create accounts; ``tokens=JWTAuth(...)`` adds an access
    token to the final redirect's fragment (``#token=...``); ``sessions=False`` then skips the
    session log-in (the session still carries the sign-in's state).
    """

    def __init__(
        self,
        providers: Mapping[str, Provider] | None = None,
        *,
        prefix: str = "/auth/social",
        users: SocialUsers | None = None,
        register: bool = True,
        sessions: bool = True,
        tokens: JWTAuth | None = None,
        redirect_to: str = "/",
        base_url: str | None = None,
        max_age: timedelta = timedelta(minutes=10),
        templates: AppTemplates = None,
        second_factor_url: str | None = None,
    ) -> None:
        if not sessions and tokens is None:
            raise ConfigurationError(
                "SocialRoutes(sessions=False) needs tokens=JWTAuth(...): a sign-in must end in "
                "a session or a token"
            )
        self.providers: dict[str, Provider] = dict(providers or {})
        self.prefix, self.register, self.sessions, self.tokens = prefix, register, sessions, tokens
        self.users = users
        self.redirect_to = _local_path(redirect_to) or "/"
        #: Where a user with a second factor (TOTP, passkey) goes to prove it after the
        #: provider; default: ``AccountPages``' two-factor page when installed, else
        #: ``redirect_to`` with ``#second_factor=<methods>`` for a client-side form.
        self.second_factor_url = second_factor_url
        #: ``https://app.example.com``: the callback URLs' origin behind a proxy that hides it.
        self.base_url = base_url.rstrip("/") if base_url else None
        self.max_age = max_age.total_seconds()
        self.app_templates = templates

    def on_app_init(self, app: App[Any]) -> None:
        plugins = app.plugins
        if not any(isinstance(p, SQLAlchemyPlugin) for p in plugins):
            raise ConfigurationError("SocialRoutes needs the database: add SQLAlchemyPlugin()")
        if not any(isinstance(p, SessionPlugin) for p in plugins):
            raise ConfigurationError(
                "SocialRoutes keeps each sign-in's state, nonce and PKCE verifier in the "
                "session: add SessionPlugin() to App(plugins=[...])"
            )
        if not any(isinstance(p, AuthPlugin) for p in plugins):
            raise ConfigurationError(
                "SocialRoutes links accounts to the signed-in user: add "
                "AuthPlugin(SessionAuth(), load_user=...) to App(plugins=[...])"
            )
        configured = app.settings.social_credentials
        for name, options in configured.items():
            self.providers.setdefault(name, provider_from_settings(name, options))
        if not self.providers:
            raise ConfigurationError(
                "SocialRoutes has no providers: pass providers={'github': GitHubProvider(...)} "
                "or set BASTION_SOCIAL_CREDENTIALS"
            )
        for name, provider in self.providers.items():
            if not _NAME.match(name):
                raise ConfigurationError(
                    f"SocialRoutes provider name {name!r}: use lower-case letters, digits, - and _"
                )
            provider.name = name
        self._users: SocialUsers = self.users if self.users is not None else ReadyUsers()
        # A provider proves who the user is, as a password does: a second factor the user
        # turned on must follow it too, or a linked provider would skip it.
        self._auth_routes = next((p for p in plugins if isinstance(p, AuthRoutes)), None)
        if self.second_factor_url is None:
            pages = next((p for p in plugins if isinstance(p, AccountPages)), None)
            if pages is not None:
                self.second_factor_url = pages.prefix + "/two-factor"
        self.templates = auth_templates(self.app_templates, forms=False)
        self.templates.check("auth/social_error.html")
        app.include(self.router())

    def router(self) -> Router:
        router = Router(self.prefix, tags=["auth"])
        refusals = {400: "The sign-in was refused (see detail)", 404: "Unknown provider"}

        @router.get("/{provider}/login", status_code=303, responses=refusals)
        async def social_login(
            provider: str, request: Request, next: Param = None, login_hint: Param = None
        ) -> Response:
            """Start signing in with ``provider``: redirect to it. ``next`` is the local path
            to come back to; ``login_hint`` is passed on to the provider."""
            extra = {"login_hint": login_hint} if login_hint else {}
            return await self._start(request, provider, next, None, extra)

        @router.get(
            "/{provider}/callback",
            status_code=303,
            responses={
                **refusals,
                403: "The provider account cannot sign in here (see detail)",
                409: "The provider account belongs to another user",
            },
        )
        async def social_callback(
            provider: str,
            request: Request,
            db: AsyncSession,
            code: Param = None,
            state: Param = None,
            error: Param = None,
            iss: Param = None,
        ) -> Response:
            """Where the provider sends the browser back: check, link or create, sign in."""
            chosen = self._provider(provider)
            try:
                user, flow = await self._finish(request, db, chosen, code, state, error, iss)
            except SocialError as refusal:
                await db.rollback()
                return self._refusal(request, chosen.name, refusal)
            subject = str(user.id)
            target = flow.get("next") or self.redirect_to
            if flow.get("link") is None and self._auth_routes is not None:
                step = self._auth_routes.second_step
                methods = await step.methods(request, user, db)
                if methods:
                    step.begin(request, user, methods)  # the session now holds only that
                    if self.second_factor_url is not None:
                        return RedirectResponse(self.second_factor_url, 303)
                    fragment = urlencode({"second_factor": ",".join(methods)})
                    return RedirectResponse(f"{target}#{fragment}", 303)
            if flow.get("link") is None and self.sessions:
                login(request, user)
            if flow.get("link") is None and self.tokens is not None:
                target += "#" + urlencode({"token": self.tokens.encode({"sub": subject})})
            return RedirectResponse(target, 303)

        @router.post("/{provider}/link", status_code=303, responses=refusals)
        async def social_link(
            provider: str,
            request: Request,
            user: CurrentUser,
            next: Param = None,
            login_hint: Param = None,
        ) -> Response:
            """Link a ``provider`` account to the signed-in user: redirect to the provider
            (a form's POST, so another site cannot start it)."""
            extra = {"login_hint": login_hint} if login_hint else {}
            return await self._start(request, provider, next, _subject(user), extra)

        @router.get("/accounts")
        async def social_accounts(user: CurrentUser, db: AsyncSession) -> list[LinkedAccount]:
            """The provider accounts linked to the signed-in user."""
            rows = await db.scalars(
                select(SocialAccount)
                .where(SocialAccount.user == _subject(user))
                .order_by(SocialAccount.id)
            )
            return [LinkedAccount(r.provider, r.email, r.created_at.isoformat()) for r in rows]

        @router.delete(
            "/accounts/{provider}",
            status_code=204,
            responses={404: "No such linked account", 409: "It is the only way to sign in"},
        )
        async def social_unlink(provider: str, user: CurrentUser, db: AsyncSession) -> None:
            """Unlink the signed-in user's ``provider`` account."""
            subject = _subject(user)
            rows = list(
                await db.scalars(select(SocialAccount).where(SocialAccount.user == subject))
            )
            mine = [r for r in rows if r.provider == provider]
            if not mine:
                raise NotFound(f"No {provider} account is linked to yours")
            account = await self._users.get(db, subject)
            if len(rows) == len(mine) and (
                account is None or not self._users.has_password(account)
            ):
                raise Conflict(
                    f"{provider} is the only way to sign in to this account: set a password "
                    "(password reset) or link another provider first",
                    extra={"reason": "last_sign_in_method"},
                )
            for row in mine:
                await db.delete(row)

        return router

    async def _start(
        self, request: Request, name: str, next: str | None, link: str | None, extra: dict[str, str]
    ) -> Response:
        provider = self._provider(name)
        state, nonce, verifier = new_secret(), new_secret(), new_secret() + new_secret()
        try:
            url = await provider.authorization_url(
                self._callback_url(request, name), state, nonce, verifier, **extra
            )
        except SocialError as refusal:
            return self._refusal(request, name, refusal)
        flows = {
            k: v
            for k, v in dict(request.session.get(FLOW_KEY) or {}).items()
            if isinstance(v, dict) and time.time() - v.get("at", 0) < self.max_age
        }
        flows[name] = {
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "next": _local_path(next),
            "link": link,
            "at": time.time(),
        }
        request.session[FLOW_KEY] = flows
        return RedirectResponse(url, 303)

    async def _finish(
        self,
        request: Request,
        db: AsyncSession,
        provider: Provider,
        code: str | None,
        state: str | None,
        error: str | None,
        iss: str | None,
    ) -> tuple[Any, dict[str, Any]]:
        name = provider.name
        flows = dict(request.session.get(FLOW_KEY) or {})
        flow = flows.pop(name, None)  # each sign-in's secrets are taken back once
        if flow is not None:
            request.session[FLOW_KEY] = flows
        if not isinstance(flow, dict) or time.time() - flow.get("at", 0) > self.max_age:
            raise SocialError(
                "state",
                f"No sign-in with {name} was started in this browser, or it took longer than "
                f"{int(self.max_age // 60)} minutes: start again from the sign-in page",
            )
        if not state or not hmac.compare_digest(state.encode(), str(flow["state"]).encode()):
            raise SocialError(
                "state",
                f"The answer from {name} does not belong to the sign-in started in this browser "
                "(its state differs): start again from the sign-in page",
            )
        if error is not None:
            raise SocialError(
                "denied",
                f"{name} did not sign you in ({error[:64]}): start again and accept at {name}",
                403 if error == "access_denied" else 400,
            )
        if iss is not None and isinstance(provider, OIDCProvider) and iss != provider.issuer:
            raise SocialError(  # RFC 9207: the answer came from another provider (mix-up)
                "issuer", f"The answer names another issuer than {name}: start again", 400
            )
        if not code:
            raise SocialError("code", f"{name} sent no authorization code: start again")
        redirect_uri = self._callback_url(request, name)
        profile = await provider.profile(code, redirect_uri, flow["verifier"], flow["nonce"])
        link = flow.get("link")
        if link is not None and request.session.get(SESSION_KEY) != link:
            raise SocialError(
                "link",
                f"You are no longer signed in as the user who asked to link {name}: sign in "
                "and link it again",
                403,
            )
        return await self._account(db, profile, link), flow

    async def _account(self, db: AsyncSession, profile: SocialProfile, link: str | None) -> Any:
        """The user this provider account signs in as (linking or creating it if proven)."""
        users, name = self._users, profile.provider
        linked = await db.scalar(
            select(SocialAccount).where(
                SocialAccount.provider == name, SocialAccount.subject == profile.subject
            )
        )
        if link is not None:  # the logged-in link step: ownership of both sides is proven
            if linked is not None and linked.user != link:
                raise SocialError(
                    "taken",
                    f"This {name} account is already linked to another account here: sign in "
                    "with it and unlink it there first",
                    409,
                )
            if linked is None:
                db.add(
                    SocialAccount(
                        provider=name, subject=profile.subject, user=link, email=profile.email
                    )
                )
            return await self._active(db, link, name)
        if linked is not None:
            return await self._active(db, linked.user, name)
        if profile.email is None or not profile.email_verified:
            raise SocialError(
                "unverified_email",
                f"{name} has not verified an e-mail address for this account, so it cannot be "
                f"matched to an account here: verify your address at {name} and sign in again, "
                f"or sign in another way and link {name} from your account",
                403,
            )
        user = await users.by_email(db, profile.email)
        if user is None:
            if not self.register:
                raise SocialError(
                    "no_account",
                    f"No account here uses your {name} e-mail address: sign up first, then "
                    f"link {name} from your account",
                    403,
                )
            user = await users.create(db, profile)
        db.add(
            SocialAccount(
                provider=name, subject=profile.subject, user=str(user.id), email=profile.email
            )
        )
        await db.flush()
        return await self._active(db, str(user.id), name)

    async def _active(self, db: AsyncSession, subject: str, name: str) -> Any:
        user = await self._users.get(db, subject)
        if user is None or not getattr(user, "is_active", True):
            raise SocialError(
                "inactive", f"The account your {name} account is linked to is disabled", 403
            )
        return user

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise NotFound(
                f"No sign-in provider is called {name!r}; use one of: "
                + ", ".join(sorted(self.providers))
            )
        return provider

    def _callback_url(self, request: Request, name: str) -> str:
        path = request.app.url_path_for("social_callback", provider=name)
        return (self.base_url or request.base_url.rstrip("/")) + path

    def _refusal(self, request: Request, name: str, refusal: SocialError) -> Response:
        """A page for browsers, a problem+json document for everything else."""
        if "text/html" in request.headers.get("accept", ""):
            return self.templates.render(
                request,
                "auth/social_error.html",
                {
                    "provider": name,
                    "reason": refusal.reason,
                    "detail": refusal.detail,
                    "retry": request.app.url_path_for("social_login", provider=name),
                },
                status_code=refusal.status,
            )
        raise HTTPError(
            refusal.detail,
            status_code=refusal.status,
            extra={"reason": refusal.reason, "provider": name},
        )


def provider_from_settings(name: str, options: Mapping[str, str]) -> Provider:
    """A provider from ``settings.social_credentials[name]``."""
    where = f"settings.social_credentials[{name!r}]"
    allowed = {"client_id", "client_secret", "issuer", "scope"}
    unknown = set(options) - allowed
    if unknown or "client_id" not in options or "client_secret" not in options:
        raise ConfigurationError(
            f"{where} needs client_id and client_secret (and issuer for OpenID Connect "
            f"providers other than github and google); unknown keys: {sorted(unknown)}"
        )
    client_id, client_secret = options["client_id"], options["client_secret"]
    scope = options.get("scope")
    if "issuer" in options:
        return OIDCProvider(
            issuer=options["issuer"],
            client_id=client_id,
            client_secret=client_secret,
            scope=scope or "openid email profile",
        )
    if name == "github":
        return GitHubProvider(
            client_id=client_id, client_secret=client_secret, scope=scope or "read:user user:email"
        )
    if name == "google":
        return GoogleProvider(
            client_id=client_id, client_secret=client_secret, scope=scope or "openid email profile"
        )
    raise ConfigurationError(f"{where}: give the provider's issuer (its OpenID Connect URL)")


def _subject(user: Any) -> str:
    return user.subject if isinstance(user, Identity) else str(user.id)


def _local_path(path: str | None) -> str | None:
    """``path`` if it stays on this site (``/x``, not ``//evil`` or ``/\\evil``), else None."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return None
    if any(c in path for c in "\r\n\\") or len(path) > 1024:
        return None
    return path
