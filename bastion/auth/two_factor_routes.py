"""``TwoFactorRoutes``: TOTP enrolment, recovery codes and the login's second step.

    App(plugins=[database, SessionPlugin(), SecurityPlugin(), AuthPlugin(...), AuthRoutes(),
                 TwoFactorRoutes(issuer="Example")])

It adds TOTP and recovery codes to ``AuthRoutes.second_step``, so a login with the right
password answers 202 and ``POST {prefix}/challenge`` with a code finishes it. Routes under
``prefix`` (default ``/auth/two-factor``): ``GET ""`` (status), ``POST /enable`` (password:
a secret, its ``otpauth://`` URI and a QR code), ``POST /confirm`` (a code: turns it on and
answers the recovery codes, once), ``POST /recovery-codes`` (password: new codes),
``POST /disable`` (password), ``POST /challenge`` (the second step).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.auth.backends.session import SESSION_KEY
from bastion.auth.guards import current_user
from bastion.auth.models import User
from bastion.auth.routes import Account, AuthRoutes, Password
from bastion.auth.two_factor import (
    DEVICE_COOKIE,
    DeviceCookies,
    forget_devices,
    forget_two_factor,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    qr_svg,
    recovery_codes_left,
    use_recovery_code,
    use_totp,
)
from bastion.db import current_session
from bastion.db.model import utc_now
from bastion.di.depends import Depends
from bastion.exceptions import (
    ConfigurationError,
    Conflict,
    Forbidden,
    MalformedBody,
    Unauthorized,
    ValidationError,
)
from bastion.http.request import Request
from bastion.http.response import JSONResponse
from bastion.routing.router import Router
from bastion.security.ratelimit import RateLimit, by_ip
from bastion.security.ratelimit.backend import RateLimitBackend

if TYPE_CHECKING:
    from bastion.app import App

Code = Annotated[str, msgspec.Meta(max_length=64)]
LoggedIn = Annotated[Any, Depends(current_user)]
WRONG_CODE = (
    "The code is wrong, expired or already used: enter the current 6-digit code from your "
    "authenticator app (check the device's clock), or one of your recovery codes"
)


class PasswordBody(msgspec.Struct):
    password: Password


class CodeBody(msgspec.Struct):
    code: Code


class Challenge(msgspec.Struct):
    """The second step: a TOTP ``code`` or a ``recovery_code``; ``pending`` is the token
    the login answered (cookie sessions need not send it)."""

    code: Code | None = None
    recovery_code: Code | None = None
    remember: bool = False
    pending: Annotated[str, msgspec.Meta(max_length=512)] | None = None


class Enrolment(msgspec.Struct):
    secret: str
    uri: str
    qr_svg: str


class RecoveryCodes(msgspec.Struct):
    recovery_codes: list[str]


class Status(msgspec.Struct):
    enabled: bool
    pending_confirmation: bool
    recovery_codes_left: int


class _Factor:
    """TOTP and recovery codes, as the second step sees them: on once confirmed."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def enrolled(self, user: Any, db: AsyncSession) -> bool:
        return getattr(user, "totp_confirmed_at", None) is not None


class TwoFactorRoutes:
    """TOTP with recovery codes and remembered devices, as ``AuthRoutes``' second step."""

    def __init__(
        self,
        *,
        prefix: str = "/auth/two-factor",
        issuer: str = "Bastion",
        throttle: str | None = "5/minute",
        throttle_backend: RateLimitBackend | None = None,
        remember_for: timedelta | None = timedelta(days=30),
    ) -> None:
        self.prefix = prefix
        #: The name authenticator apps show next to the account.
        self.issuer = issuer
        self.throttle = throttle
        self.throttle_backend = throttle_backend
        #: How long "remember this device" skips the second step; None turns it off.
        self.remember_for = remember_for

    def on_app_init(self, app: App[Any]) -> None:
        auth = next((p for p in app.plugins if isinstance(p, AuthRoutes)), None)
        if auth is None:
            raise ConfigurationError(
                "TwoFactorRoutes is the second step of AuthRoutes' login: add AuthRoutes() "
                "to App(plugins=[...])"
            )
        self.auth = auth
        auth.second_step.factors += [_Factor("totp"), _Factor("recovery_code")]
        secret = app.settings.secret_key
        if not secret:
            if app.settings.profile == "prod":
                raise ConfigurationError(
                    "Remembered devices need a secret key: set BASTION_SECRET_KEY"
                )
            secret = secrets.token_urlsafe(32)
        self.devices = DeviceCookies(secret, self.remember_for or timedelta(0))
        self.secure_cookie = app.settings.profile == "prod"
        if self.remember_for is not None:
            auth.second_step.bypasses.append(self._remembered)
        auth.password_changed.append(self._password_changed)
        self.code_limit = (
            [RateLimit(self.throttle, key=self._code_key, backend=self.throttle_backend,
                       name="auth-2fa-codes")]
            if self.throttle else []
        )  # fmt: skip
        app.include(self.router())

    # -- the operations (shared by the JSON routes and the pages) ------------------------

    async def check_password(self, user: Any, password: str) -> None:
        if not await self.auth.hasher.verify(user.password_hash, password):
            raise Forbidden(
                "The password is wrong: enter your current password to change two-factor settings",
                extra={"errors": [{"field": "body.password", "reason": "is wrong"}]},
            )

    async def enable(self, db: AsyncSession, user: Any) -> Enrolment:
        if user.totp_confirmed_at is not None:
            raise Conflict(
                "Two-factor authentication is already on: disable it first to enrol another "
                "authenticator, or get new recovery codes"
            )
        user.totp_secret = new_secret()
        user.totp_last_step = None
        uri = provisioning_uri(user.totp_secret, user.email, self.issuer)
        return Enrolment(user.totp_secret, uri, qr_svg(uri))

    async def confirm(self, db: AsyncSession, user: Any, code: str) -> list[str]:
        if user.totp_confirmed_at is not None or user.totp_secret is None:
            raise Conflict(
                "There is no enrolment to confirm: start one (POST /enable with your password)"
            )
        if not await use_totp(db, user, code):
            raise ValidationError([{"field": "body.code", "reason": WRONG_CODE}])
        user.totp_confirmed_at = utc_now()
        return await new_recovery_codes(db, user.id)

    async def regenerate(self, db: AsyncSession, user: Any) -> list[str]:
        if user.totp_confirmed_at is None:
            raise Conflict("Two-factor authentication is off: turn it on first")
        return await new_recovery_codes(db, user.id)

    async def challenge(
        self, request: Request, db: AsyncSession, body: Challenge
    ) -> tuple[Account, str | None]:
        """Finish the pending login with a code; the account and a device cookie value."""
        step = self.auth.second_step
        user = await step.pending_user(request, db, User, body.pending)
        if not body.code and not body.recovery_code:
            raise ValidationError(
                [{"field": "body.code", "reason": "enter the code from your authenticator app, "
                  "or a recovery code in body.recovery_code"}]
            )  # fmt: skip
        if body.code:
            ok = await use_totp(db, user, body.code)
        else:
            ok = await use_recovery_code(db, user.id, body.recovery_code or "")
        if not ok:
            raise Unauthorized(WRONG_CODE, extra={"next": "code"})
        cookie = None
        if body.remember and self.remember_for is not None:
            cookie = await self.devices.remember(db, user, request.headers.get("user-agent", ""))
        return self.auth.complete_login(request, user), cookie

    def set_device_cookie(self, response: Any, cookie: str | None) -> None:
        if cookie is not None and self.remember_for is not None:
            age = int(self.remember_for.total_seconds())
            response.set_cookie(DEVICE_COOKIE, cookie, max_age=age, secure=self.secure_cookie)

    async def _password_changed(self, request: Request, user: Any) -> None:
        """A new password forgets the remembered devices (their cookies are bound to the old
        one already; this removes the rows), in the change's transaction."""
        db = current_session()
        if db is not None:
            await forget_devices(db, user)

    async def _remembered(self, request: Request, user: Any, db: AsyncSession) -> bool:
        return await self.devices.recognises(db, user, request.cookies.get(DEVICE_COOKIE))

    async def _code_key(self, request: Request) -> str | None:
        """Codes are budgeted per account (pending or logged in), else per address."""
        step = self.auth.second_step
        subject = step.pending_subject(request)
        if subject is None and request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            try:
                token = (await request.json()).get("pending")
            except (MalformedBody, AttributeError):
                token = None
            subject = step.pending_subject(request, token) if isinstance(token, str) else None
        session = request.scope.get("session")
        if subject is None and session is not None:
            subject = session.get(SESSION_KEY)
        return f"user:{subject}" if isinstance(subject, str) else by_ip(request)

    # -- JSON routes -----------------------------------------------------------------------

    def router(self) -> Router:
        router = Router(self.prefix, tags=["auth"])
        limit = self.code_limit

        @router.get("")
        async def two_factor_status(user: LoggedIn, db: AsyncSession) -> Status:
            """Whether two-factor is on, and how many recovery codes are left."""
            left = await recovery_codes_left(db, user.id) if user.totp_confirmed_at else 0
            pending = user.totp_secret is not None and user.totp_confirmed_at is None
            return Status(user.totp_confirmed_at is not None, pending, left)

        @router.post("/enable", responses={403: "Wrong password", 409: "Already on"})
        async def two_factor_enable(
            body: PasswordBody, user: LoggedIn, db: AsyncSession
        ) -> Enrolment:
            """Start enrolment: a new secret, shown once, to confirm with a code."""
            await self.check_password(user, body.password)
            return await self.enable(db, user)

        @router.post(
            "/confirm",
            responses={409: "No enrolment to confirm", 422: "Wrong code", 429: "Too many codes"},
            middleware=limit,
        )
        async def two_factor_confirm(
            body: CodeBody, user: LoggedIn, db: AsyncSession
        ) -> RecoveryCodes:
            """Turn two-factor on with a code from the app; answers the recovery codes once."""
            return RecoveryCodes(await self.confirm(db, user, body.code))

        @router.post("/recovery-codes", responses={403: "Wrong password", 409: "Two-factor is off"})
        async def two_factor_recovery_codes(
            body: PasswordBody, user: LoggedIn, db: AsyncSession
        ) -> RecoveryCodes:
            """Replace the recovery codes (the old ones stop working); shown once."""
            await self.check_password(user, body.password)
            return RecoveryCodes(await self.regenerate(db, user))

        @router.post("/disable", status_code=204, responses={403: "Wrong password"})
        async def two_factor_disable(body: PasswordBody, user: LoggedIn, db: AsyncSession) -> None:
            """Turn two-factor off (forgets the secret, codes and remembered devices)."""
            await self.check_password(user, body.password)
            await forget_two_factor(db, user)

        @router.post(
            "/challenge",
            responses={401: "Wrong code or no pending login", 429: "Too many codes"},
            middleware=limit,
        )
        async def two_factor_challenge(
            body: Challenge, request: Request, db: AsyncSession
        ) -> Account:
            """The login's second step: a TOTP code or a recovery code after the password."""
            account, cookie = await self.challenge(request, db, body)
            response = JSONResponse(account)
            self.set_device_cookie(response, cookie)
            return response  # type: ignore[return-value]

        return router
