"""Optional account routes on the ready ``User`` model: register, login, logout, password
change and reset. ``App(plugins=[database, SessionPlugin(), AuthRoutes()])``.

Login answers the same 401 for an unknown e-mail, a wrong password and a disabled account,
after the same argon2 work. Reset links are signed (itsdangerous), expire, and carry a
fingerprint of the password hash, so they stop working once used. Register answers the
same 202 for a new and a taken address and signs nobody in, so it never tells whether an
address has an account: the new owner signs in next (with ``VerificationRoutes``, once the
mailed link proves the address), and a taken address's owner is told, not the caller.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.auth.backends.jwt import JWTAuth
from bastion.auth.guards import current_user
from bastion.auth.login import login, logout
from bastion.auth.models import User
from bastion.auth.passwords import PasswordHasher, PasswordPolicy
from bastion.auth.plugin import AuthPlugin
from bastion.auth.reset import ResetTokens
from bastion.auth.second_step import SecondStep
from bastion.auth.sessions.plugin import SessionPlugin
from bastion.db.model import utc_now
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.di.depends import Depends
from bastion.exceptions import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    MalformedBody,
    Unauthorized,
)
from bastion.http.background import BackgroundTasks
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.routing.router import Router
from bastion.security.ratelimit import RateLimit, by_ip
from bastion.security.ratelimit.backend import RateLimitBackend

if TYPE_CHECKING:
    from bastion.app import App

logger = logging.getLogger("bastion.auth")
# No \s or $: Python's re (the check) and ECMA-262 (the document's readers) disagree on both.
_NOT_AT_OR_SPACE = (
    r"[^@\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
Email = Annotated[
    str,
    msgspec.Meta(
        max_length=254,
        pattern=rf"^{_NOT_AT_OR_SPACE}+@{_NOT_AT_OR_SPACE}+\.{_NOT_AT_OR_SPACE}+(?![\s\S])",
    ),
]
Password = Annotated[str, msgspec.Meta(max_length=1024)]


class Registration(msgspec.Struct):
    email: Email
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    password: Password


class Credentials(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Password


class ResetRequest(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(max_length=254)]


class ResetConfirm(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(max_length=2048)]
    password: Password


class PasswordChange(msgspec.Struct):
    current_password: Password
    password: Password


class SignUpPending(msgspec.Struct):
    """Register's answer (202): the same for a new address and for one that already has an
    account, so sign-up cannot be used to find out who has one."""

    detail: str


class Account(msgspec.Struct, omit_defaults=True):
    id: int
    email: str
    username: str
    roles: list[str]
    token: str | None = None
    refresh_token: str | None = None


@dataclass(frozen=True)
class ResetLink:
    """What the mailer needs: who, and the link to send them."""

    email: str
    url: str
    token: str


ResetSender = Callable[[ResetLink], Awaitable[None] | None]
#: Called after an account is created (e.g. to mail an e-mail verification link).
RegisterHook = Callable[[Request, Any, AsyncSession, BackgroundTasks], Awaitable[None]]


def log_reset_link(link: ResetLink) -> None:
    """The default delivery until mail is configured: the log (never use it in production)."""
    logger.info("Password reset link for %s: %s", link.email, link.url)


class AuthRoutes:
    """The routes, under ``prefix``: ``POST /register``, ``/login``, ``/logout``,
    ``/password-reset`` and ``/password-reset/confirm``. With ``tokens=JWTAuth(...)``,
    login also answers a token; with ``sessions=True`` it logs the session in (register
    signs nobody in)."""

    def __init__(
        self,
        *,
        prefix: str = "/auth",
        hasher: PasswordHasher | None = None,
        policy: PasswordPolicy | None = None,
        sessions: bool = True,
        tokens: JWTAuth | None = None,
        send_reset_link: ResetSender = log_reset_link,
        reset_max_age: timedelta = timedelta(hours=1),
        reset_url: str | None = None,
        throttle: str | None = "5/minute",
        throttle_backend: RateLimitBackend | None = None,
    ) -> None:
        if not sessions and tokens is None:
            raise ConfigurationError(
                "AuthRoutes(sessions=False) needs tokens=JWTAuth(...): logging in must give "
                "either a session or a token"
            )
        self.prefix = prefix
        self.hasher = hasher or PasswordHasher()
        self.policy = policy or PasswordPolicy()
        self.sessions = sessions
        self.tokens = tokens
        self.send_reset_link = send_reset_link
        self.reset_max_age = reset_max_age
        #: ``https://app.example/reset?token={token}``; default: the confirm route's URL.
        self.reset_url = reset_url
        self.challenge = 'Cookie realm="session"'
        #: Attempts per client address and e-mail on login and password reset (Laravel's
        #: default); None turns throttling off. Give several processes one backend
        #: (``RedisBackend``) so the budget is shared.
        self.throttle = throttle
        self.throttle_backend = throttle_backend
        #: Set by ``RefreshTokens`` and ``Lockout`` when in the app; what a password change
        #: (sessions, refresh tokens) and a log-out (a token's sign-in) must also end.
        self.refresh: Any = None
        self.lockout: Any = None
        #: Set by ``VerificationRoutes``: sign-ups wait for the address to be proven, and
        #: ``address_taken(request, user, tasks)`` tells an address's owner of a sign-up.
        self.verification: Any = None
        self.password_changed: list[Callable[[Request, Any], Awaitable[None]]] = []
        self.logged_out: list[Callable[[Request], Awaitable[None]]] = []
        #: Hooks run after register (e.g. mail a verification link), and the login's second
        #: step (factors such as TOTP or passkeys add themselves to ``second_step.factors``).
        self.on_register: list[RegisterHook] = []
        self.second_step = SecondStep()

    def on_app_init(self, app: App[Any]) -> None:
        plugins = app.plugins
        if not any(isinstance(p, SQLAlchemyPlugin) for p in plugins):
            raise ConfigurationError("AuthRoutes needs the database: add SQLAlchemyPlugin()")
        if self.sessions and not any(isinstance(p, SessionPlugin) for p in plugins):
            raise ConfigurationError(
                "AuthRoutes logs sessions in: add SessionPlugin() to App(plugins=[...]), or "
                "pass AuthRoutes(sessions=False, tokens=JWTAuth(...))"
            )
        auth = next((p for p in plugins if isinstance(p, AuthPlugin)), None)
        self.identifies = auth is not None
        if auth is not None:
            self.challenge = auth.challenges
        self.deliver_reset = self.send_reset_link
        if self.deliver_reset is log_reset_link:  # MailPlugin in the app: mail the link
            self.deliver_reset = _mailed_reset_links(plugins) or log_reset_link
        if self.deliver_reset is log_reset_link and app.settings.profile == "prod":
            logger.warning("AuthRoutes: reset links are only logged; pass send_reset_link=")
        self.resets = ResetTokens(app.settings.secret_key, self.reset_max_age, app.settings)
        self.second_step.setup(app.settings.secret_key, app.settings)
        app.include(self.router())

    def router(self) -> Router:
        router = Router(self.prefix, tags=["auth"])
        hasher, policy, resets = self.hasher, self.policy, self.resets
        login_limit, reset_limit = self._limit("auth-login"), self._limit("auth-reset")
        self.login_limit = login_limit
        self.password_limit = self._limit("auth-password")
        account = self.complete_login

        @router.post(
            "/register",
            status_code=202,
            responses={429: "Too many attempts"},
            middleware=self._limit("auth-register"),
        )
        async def register(
            body: Registration, request: Request, db: AsyncSession, tasks: BackgroundTasks
        ) -> SignUpPending:
            """Create an account, then sign in with ``POST /login``; with e-mail
            verification, follow the mailed link first. A taken address gets the same
            answer (its owner is told instead), so this never reveals who has an account."""
            await self.create_account(request, db, tasks, body)
            return SignUpPending(self.signed_up)

        @router.post(
            "/login",
            status_code=200,
            responses={
                202: "The password is right; a second factor must follow",
                401: "Wrong e-mail or password",
                429: "Too many attempts",
            },
            middleware=login_limit,
        )
        async def log_in(body: Credentials, request: Request, db: AsyncSession) -> Account:
            """Check the password; log the session in and/or answer a token (or, with a
            second factor enrolled, answer 202 and wait for it)."""
            user = await self.check_password(db, body.email, body.password)
            methods = await self.second_step.methods(request, user, db)
            if methods:
                return self.second_step.begin(request, user, methods)  # type: ignore[return-value]
            return account(request, user)

        @router.post("/logout", status_code=204)
        async def log_out(request: Request) -> None:
            """End the session."""
            for hook in self.logged_out:
                await hook(request)
            if self.sessions:
                logout(request)

        @router.post(
            "/password-reset",
            status_code=202,
            responses={429: "Too many attempts"},
            middleware=reset_limit,
        )
        async def password_reset(
            body: ResetRequest, request: Request, db: AsyncSession, tasks: BackgroundTasks
        ) -> Response:
            """Send a reset link if the account exists; the answer is the same either way."""
            response = Response(b"", 202)
            email = body.email.strip().lower()
            user = await db.scalar(select(User).where(User.email == email))
            if user is not None and user.is_active:
                token = resets.issue(user.id, user.password_hash)
                template = self.reset_url or request.url_for("password_reset_confirm") + (
                    "?token={token}"
                )
                link = ResetLink(user.email, template.format(token=token), token)

                async def deliver() -> None:
                    result = self.deliver_reset(link)
                    if result is not None:
                        await result

                tasks.add_task(deliver)  # sent after answering: no timing signal
            return response

        @router.post("/password-reset/confirm", status_code=204)
        async def password_reset_confirm(
            body: ResetConfirm, db: AsyncSession, request: Request
        ) -> None:
            """Set a new password with the token from the link (once)."""
            user_id = resets.subject(body.token)
            user = await db.get(User, user_id) if user_id is not None else None
            if user is None or not resets.matches(body.token, user.password_hash):
                raise BadRequest("The reset link is invalid or has expired; ask for a new one")
            await policy.check(body.password)
            user.password_hash = await hasher.hash(body.password)
            if self.verification is not None and user.email_verified_at is None:
                user.email_verified_at = utc_now()  # the link came to this address
            for hook in self.password_changed:  # other sessions, refresh tokens
                await hook(request, user)

        if self.identifies:  # who is asking: only with AuthPlugin
            self._password_route(router)
        return router

    def _password_route(self, router: Router) -> None:
        account = self.complete_login

        @router.post(
            "/password",
            status_code=200,
            responses={403: "The current password is wrong", 429: "Too many attempts"},
            middleware=self.password_limit,
        )
        async def change_password(
            body: PasswordChange,
            request: Request,
            db: AsyncSession,
            user: Annotated[Any, Depends(current_user)],
        ) -> Account:
            """Change the password (the current one proves it is the owner): every other
            session and refresh token ends, remembered devices are forgotten; this session
            stays signed in and a token client gets new tokens."""
            return account(request, await self.change_password(request, user, body))

    async def change_password(self, request: Request, user: Any, body: PasswordChange) -> Any:
        """Check the current password and the new one's policy, set it and run the
        ``password_changed`` hooks; the caller signs this session in again."""
        if not await self.hasher.verify(user.password_hash, body.current_password):
            raise Forbidden(
                "The current password is wrong: enter the password you sign in with",
                extra={"errors": [{"field": "body.current_password", "reason": "is wrong"}]},
            )
        await self.policy.check(body.password)
        user.password_hash = await self.hasher.hash(body.password)
        for hook in self.password_changed:  # other sessions, refresh tokens, devices
            await hook(request, user)
        return user

    async def create_account(
        self, request: Request, db: AsyncSession, tasks: BackgroundTasks, body: Registration
    ) -> User | None:
        """A new user (policy checked, e-mail free), then the ``on_register`` hooks; None
        for a taken address, which is not refused (that would tell the caller it has an
        account): its owner is told, by mail with e-mail verification, else in the log."""
        email = body.email.strip().lower()
        await self.policy.check(body.password)
        password_hash = await self.hasher.hash(body.password)  # taken or not: the same work
        existing = await db.scalar(select(User).where(User.email == email))
        if existing is not None:
            if self.verification is not None:
                await self.verification.address_taken(request, existing, tasks)
            else:
                logger.info("Sign-up with the address of account %s: nothing created", existing.id)
            return None
        user = User(email=email, username=body.username, password_hash=password_hash, roles=[])
        db.add(user)
        await db.flush()
        for hook in self.on_register:
            await hook(request, user, db, tasks)
        return user

    @property
    def signed_up(self) -> str:
        """Register's answer, the same whether the address was free or taken."""
        if self.verification is not None:
            return "Check your inbox: follow the link we mailed to finish signing up, then sign in"
        return (
            "Signed up: sign in with your e-mail address and password (if the address already "
            "had an account, sign in with that account's password or reset it)"
        )

    async def check_password(self, db: AsyncSession, email: str, password: str) -> User:
        """The active user with this e-mail and password, or the login's 401 (or the
        lockout's refusal)."""
        hasher = self.hasher
        email = email.strip().lower()
        locked = await self.lockout.check(email, db) if self.lockout is not None else None
        if locked is not None:  # the same argon2 work and answer, account or not
            await hasher.verify_dummy(password)
            raise locked
        user = await db.scalar(select(User).where(User.email == email))
        if user is None:
            await hasher.verify_dummy(password)
            raise await self._failed(db, email, None)
        if (
            not await hasher.verify(user.password_hash, password)
            or not user.is_active
            or (self.verification is not None and user.email_verified_at is None)
        ):  # an unproven address answers as a wrong password: register then log in tells nothing
            raise await self._failed(db, email, user)
        if self.lockout is not None:
            await self.lockout.succeeded(email, db)
        if hasher.needs_rehash(user.password_hash):
            user.password_hash = await hasher.hash(password)
        return user

    def complete_login(self, request: Request, user: Any) -> Account:
        """Finish a login (after the second step, if any): the session (with
        ``sessions=True``) and/or the tokens."""
        token = self.tokens.encode({"sub": str(user.id)}) if self.tokens else None
        refresh = None
        if self.refresh is not None:  # RefreshTokens: a short-lived token and a refresh token
            pair = self.refresh.issue(str(user.id), request)
            token, refresh = pair.access_token, pair.refresh_token
        if self.sessions:
            self.second_step.end(request)
            login(request, user)
        roles = list(user.roles or ())
        return Account(user.id, user.email, user.username, roles, token, refresh)

    def _limit(self, name: str) -> list[RateLimit]:
        if self.throttle is None:
            return []
        backend = self.throttle_backend
        return [RateLimit(self.throttle, key=address_and_email, backend=backend, name=name)]

    async def _failed(self, db: AsyncSession, email: str, user: User | None) -> Unauthorized:
        """A wrong password (or no such account), counted by the lockout when there is one."""
        if self.lockout is not None:
            await self.lockout.failed(email, user, db)
        return self._refused()

    def _refused(self) -> Unauthorized:
        detail = "Wrong e-mail or password"
        if self.verification is not None:
            detail += (
                ", or the address is not confirmed yet: follow the link we mailed (ask for a "
                f"new one at POST {self.verification.prefix}/email/verification)"
            )
        return Unauthorized(detail, headers={"www-authenticate": self.challenge})


def _mailed_reset_links(plugins: list[Any]) -> ResetSender | None:
    """The mail battery's delivery of reset links, when the app has ``MailPlugin``."""
    module = sys.modules.get("bastion.mail.plugin")
    mail = next((p for p in plugins if module and isinstance(p, module.MailPlugin)), None)
    return mail.password_reset_sender() if mail is not None else None


async def address_and_email(request: Request) -> str:
    """The throttle key of login attempts: the client address with the e-mail tried, so an
    attacker guessing one account is stopped while others behind the same address (an
    office, a phone network) still log in."""
    try:
        email = (await request.json()).get("email")
    except (MalformedBody, AttributeError):  # the handler answers the bad body
        email = None
    address = by_ip(request)
    return f"{address}|{email.strip().lower()[:320]}" if isinstance(email, str) else address
