"""E-mail verification: ``App(plugins=[..., AuthRoutes(), VerificationRoutes()])``.

A link is mailed at registration (a hook on ``AuthRoutes``' register) and on request.
Register answers the same 202 for a new address and for one that already has an account
(with this plugin, that owner is mailed a notice instead of a link), and a log-in waits
until the address is proven, answering as a wrong password would. The
link is signed (itsdangerous), expires (24 hours by default) and is single use: it names
the address it proves and is only good while the account still has that address
unverified. Changing the address mails a link to the *new* address; the account keeps the
old one until that link is followed. Asking for a link answers 202 whether or not the
address has an account. ``requires_verified()`` (in ``bastion.auth.guards``) refuses
unverified users with a 403.

Routes (``prefix`` default ``/auth``): ``POST /email/verification`` (send a link),
``POST /email/verify`` (use one), ``POST /email/change``; with ``pages``, the page the link
opens, ``GET/POST {pages}/verify-email``, which asks for a click before using the token
(mail scanners follow links; they do not submit forms).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.auth._signing import load_list, signed_serializer
from bastion.auth._templates import AppTemplates, auth_templates, needs_csrf
from bastion.auth.guards import current_user
from bastion.auth.models import User
from bastion.auth.passwords import PasswordHasher
from bastion.auth.plugin import AuthPlugin
from bastion.auth.routes import AuthRoutes, Email, Password, address_and_email
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.di.depends import Depends
from bastion.exceptions import BadRequest, ConfigurationError, Forbidden, ValidationError
from bastion.http.background import BackgroundTasks
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, Response
from bastion.routing.router import Router
from bastion.security.ratelimit import RateLimit
from bastion.security.ratelimit.backend import RateLimitBackend

if TYPE_CHECKING:
    from bastion.app import App

logger = logging.getLogger("bastion.auth")
Token = Annotated[str, msgspec.Meta(max_length=2048)]
INVALID = (
    "This verification link is invalid, has expired or was already used; ask for a new one "
    "(POST {prefix}/email/verification with your address)"
)


class VerifiableUser(Protocol):
    """What verification needs of a user model: ``id``, ``email`` and a nullable
    ``email_verified_at`` (a timestamp column)."""

    id: int
    email: str
    email_verified_at: datetime | None


class EmailAddressBody(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(max_length=254)]


class TokenBody(msgspec.Struct):
    token: Token


class EmailChange(msgspec.Struct):
    email: Email
    password: Password


@dataclass(frozen=True)
class VerificationLink:
    """What a sender needs: the address to write to, the link, and whether it confirms a
    change of address (``change``) or a new account. ``url`` is None for the notice sent
    to an address that already has an account: someone tried to move to it (``change``) or
    to sign up with it."""

    email: str
    url: str | None
    token: str | None
    change: bool = False


VerificationSender = Callable[[VerificationLink], Awaitable[Any] | None]


class VerificationTokens:
    """Signed, expiring tokens naming a user, the address to prove and the current one."""

    def __init__(self, secret: str | None, max_age: timedelta, profile: str) -> None:
        self._serializer = signed_serializer(
            secret, profile, "bastion.auth.verify-email", "Verification links"
        )
        self.max_age = int(max_age.total_seconds())

    def issue(self, user: VerifiableUser, address: str) -> str:
        return self._serializer.dumps([user.id, address, user.email])

    def load(self, token: str) -> tuple[int, str, str] | None:
        payload = load_list(self._serializer, token, self.max_age, int, str, str)
        return (payload[0], payload[1], payload[2]) if payload is not None else None


class VerificationRoutes:
    """E-mail verification routes and the page the mailed link opens."""

    def __init__(
        self,
        *,
        prefix: str = "/auth",
        pages: str | None = "/account",
        max_age: timedelta = timedelta(hours=24),
        verify_url: str | None = None,
        send: VerificationSender | None = None,
        throttle: str | None = "3/minute",
        throttle_backend: RateLimitBackend | None = None,
        templates: AppTemplates = None,
        user_model: type[Any] = User,
    ) -> None:
        self.prefix = prefix
        self.pages = pages
        if pages is None and verify_url is None:
            raise ConfigurationError(
                "VerificationRoutes(pages=None) needs "
                "verify_url='https://.../verify?token={token}' for the mailed link to open"
            )
        self.max_age = max_age
        #: ``https://app.example/verify?token={token}``; default: the page's URL.
        self.verify_url = verify_url
        self.send = send
        self.throttle = throttle
        self.throttle_backend = throttle_backend
        self.templates = auth_templates(templates)
        self.user_model = user_model
        self.hasher = PasswordHasher()

    def on_app_init(self, app: App[Any]) -> None:
        if not any(isinstance(p, SQLAlchemyPlugin) for p in app.plugins):
            raise ConfigurationError(
                "VerificationRoutes needs the database: add SQLAlchemyPlugin()"
            )
        if self.pages is not None:
            needs_csrf(app, "VerificationRoutes")
        for plugin in app.plugins:
            if isinstance(plugin, AuthPlugin):  # requires_verified() names the mounted route
                plugin.verification_route = f"POST {self.prefix}/email/verification"
        auth = next((p for p in app.plugins if isinstance(p, AuthRoutes)), None)
        if auth is not None:
            auth.on_register.append(self._on_register)
            auth.verification = self
            self.hasher = auth.hasher
        self.deliver = self.send or _mailed(app.plugins, self.templates) or _log_link
        if self.deliver is _log_link and app.settings.profile == "prod":
            logger.warning("VerificationRoutes: links are only logged; add MailPlugin or send=")
        self.tokens = VerificationTokens(
            app.settings.secret_key, self.max_age, app.settings.profile
        )
        app.include(self.router())
        if self.pages is not None:
            app.include(self.pages_router(self.pages))

    def link(self, request: Request, user: VerifiableUser, address: str) -> VerificationLink:
        token = self.tokens.issue(user, address)
        template = self.verify_url or request.url_for("verify_email_page") + "?token={token}"
        return VerificationLink(address, template.format(token=token), token, address != user.email)

    async def verify(self, db: AsyncSession, token: str) -> Any:
        """Use a token: the user, now verified (at the new address for a change)."""
        invalid = INVALID.format(prefix=self.prefix)  # the route as mounted
        payload = self.tokens.load(token)
        user = await db.get(self.user_model, payload[0]) if payload is not None else None
        if payload is None or user is None or user.email != payload[2]:
            raise BadRequest(invalid, extra={"next": "verification"})
        address = payload[1]
        if address == user.email:
            if user.email_verified_at is not None:
                raise BadRequest(invalid, extra={"next": "verification"})
        else:
            model = self.user_model
            if await db.scalar(select(model.id).where(model.email == address)) is not None:
                raise BadRequest(invalid, extra={"next": "verification"})
            user.email = address
        user.email_verified_at = datetime.now(UTC)
        return user

    def router(self) -> Router:
        router = Router(self.prefix, tags=["auth"])
        model = self.user_model
        limit = (
            [RateLimit(self.throttle, key=address_and_email, backend=self.throttle_backend,
                       name="auth-verification")]
            if self.throttle else []
        )  # fmt: skip

        @router.post(
            "/email/verification",
            status_code=202,
            responses={429: "Too many attempts"},
            middleware=limit,
        )
        async def send_verification(
            body: EmailAddressBody, request: Request, db: AsyncSession, tasks: BackgroundTasks
        ) -> Response:
            """Mail a new link if the address has an unverified account; 202 either way."""
            email = body.email.strip().lower()
            user = await db.scalar(select(model).where(model.email == email))
            if user is not None and user.email_verified_at is None:
                tasks.add_task(self._deliver, self.link(request, user, user.email))
            return Response(b"", 202)

        @router.post("/email/verify", status_code=204, responses={400: "Invalid link"})
        async def verify_email(body: TokenBody, db: AsyncSession) -> None:
            """Prove the address with the token from the mailed link (once)."""
            await self.verify(db, body.token)

        @router.post("/email/change", status_code=202, responses={403: "Wrong password"})
        async def change_email(
            body: EmailChange,
            request: Request,
            db: AsyncSession,
            tasks: BackgroundTasks,
            user: Annotated[Any, Depends(current_user)],
        ) -> Response:
            """Mail a link to the new address; the change happens when it is followed."""
            email = body.email.strip().lower()
            if not await self.hasher.verify(user.password_hash, body.password):
                raise Forbidden(
                    "The password is wrong: enter your current password to change the address",
                    extra={"errors": [{"field": "body.password", "reason": "is wrong"}]},
                )
            if email == user.email:
                raise ValidationError(
                    [{"field": "body.email", "reason": "is already your address"}]
                )
            taken = await db.scalar(select(model.id).where(model.email == email))
            link = self.link(request, user, email)
            if taken is not None:  # tell the owner of that address, not the asker
                link = VerificationLink(email, None, None, True)
            tasks.add_task(self._deliver, link)
            return Response(b"", 202)

        return router

    def pages_router(self, prefix: str) -> Router:
        """The page the mailed link opens, and its form."""
        router = Router(prefix.rstrip("/"))
        render = self.templates.render

        @router.get("/verify-email", include_in_schema=False)
        async def verify_email_page(request: Request, token: str = "") -> HTMLResponse:
            return render(request, "auth/verify_email.html", {"token": token[:2048]})

        @router.post("/verify-email", include_in_schema=False)
        async def verify_email_form(request: Request, db: AsyncSession) -> HTMLResponse:
            token = (await request.form()).get("token")
            try:
                await self.verify(db, token if isinstance(token, str) else "")
            except BadRequest as refused:
                context = {"token": "", "error": refused.detail}
                return render(request, "auth/verify_email.html", context, status_code=400)
            return render(request, "auth/verify_email.html", {"verified": True})

        return router

    async def _on_register(
        self, request: Request, user: Any, db: AsyncSession, tasks: BackgroundTasks
    ) -> None:
        if user.email_verified_at is None:
            tasks.add_task(self._deliver, self.link(request, user, user.email))

    async def address_taken(self, request: Request, user: Any, tasks: BackgroundTasks) -> None:
        """Someone signed up with ``user``'s address: tell its owner (after the answer, which
        is the one a new address gets), not the person signing up."""
        tasks.add_task(self._deliver, VerificationLink(user.email, None, None, False))

    async def _deliver(self, link: VerificationLink) -> None:
        result = self.deliver(link)
        if result is not None:
            await result


def _log_link(link: VerificationLink) -> None:
    """The delivery until mail is configured: the log (never in production)."""
    logger.info("E-mail verification link for %s: %s", link.email, link.url)


def _mailed(plugins: list[Any], templates: Any) -> VerificationSender | None:
    """Mail the links with the app's ``MailPlugin``, when it has one."""
    module = sys.modules.get("bastion.mail.plugin")
    mail = next((p for p in plugins if module and isinstance(p, module.MailPlugin)), None)
    if mail is None:
        return None
    from bastion.mail.message import Message

    def send(link: VerificationLink) -> Awaitable[Any]:
        subject = (
            "Confirm your e-mail address" if link.url
            else "Your address is already in use" if link.change
            else "Someone tried to sign up with your address"
        )  # fmt: skip
        html = templates.render_string("auth/mail_verify_email.html", {"link": link})
        sent: Awaitable[Any] = mail.mailer.send(Message(to=link.email, subject=subject, html=html))
        return sent

    return send
