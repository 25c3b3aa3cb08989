"""``AccountPages``: minimal server-rendered account pages over ``AuthRoutes`` and
``TwoFactorRoutes``: sign up, sign in, change the password, the second step, TOTP
enrolment with its QR code, recovery codes, sign out. Forms are CSRF-protected
(``SecurityPlugin`` is required).

Each page is a template ``auth/<name>.html`` (``login``, ``register``, ``account``, ``password``,
``two_factor_challenge``, ``two_factor_enrol``, ``recovery_codes``); a template of the
same name in ``templates=`` (the app's folder or ``Templates``) replaces the battery's.
The pages call the same operations as the JSON routes, with the same throttles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.auth._templates import AppTemplates, auth_templates, needs_csrf
from bastion.auth.guards import OptionalUser
from bastion.auth.login import logout
from bastion.auth.models import User
from bastion.auth.routes import AuthRoutes, PasswordChange, Registration
from bastion.auth.two_factor import recovery_codes_left
from bastion.auth.two_factor_routes import Challenge, TwoFactorRoutes
from bastion.exceptions import ConfigurationError, HTTPError, ValidationError
from bastion.http.background import BackgroundTasks
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, RedirectResponse, Response
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.app import App


class AccountPages:
    """``AccountPages(prefix="/account", home="/")``: the pages; ``home`` is where a
    completed sign-in lands."""

    def __init__(
        self, *, prefix: str = "/account", home: str = "/account", templates: AppTemplates = None
    ) -> None:
        self.prefix = prefix
        self.home = home
        self.templates = auth_templates(templates)

    def on_app_init(self, app: App[Any]) -> None:
        self.auth = next((p for p in app.plugins if isinstance(p, AuthRoutes)), None)
        if self.auth is None or not self.auth.sessions:
            raise ConfigurationError(
                "AccountPages sign people in with a session: add AuthRoutes() (with "
                "sessions) to App(plugins=[...])"
            )
        self.two_factor = next((p for p in app.plugins if isinstance(p, TwoFactorRoutes)), None)
        needs_csrf(app, "AccountPages")
        app.include(self.router())

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("prefix", self.prefix)
        context.setdefault("two_factor", self.two_factor is not None)
        return self.templates.render(request, f"auth/{name}.html", context, status_code=status)

    def router(self) -> Router:
        router = Router(self.prefix)
        auth = self.auth
        assert auth is not None  # on_app_init checked it
        home, page, go = self.home, self.page, self._go

        @router.get("", include_in_schema=False)
        async def account_page(request: Request, user: OptionalUser, db: AsyncSession) -> Response:
            if user is None:
                return go("/login")
            on = getattr(user, "totp_confirmed_at", None) is not None
            left = await recovery_codes_left(db, user.id) if on else 0
            return page(request, "account", user=user, totp_on=on, codes_left=left)

        @router.get("/register", include_in_schema=False)
        async def register_page(request: Request) -> HTMLResponse:
            return page(request, "register")

        @router.post("/register", include_in_schema=False)
        async def register_form(
            request: Request, db: AsyncSession, tasks: BackgroundTasks
        ) -> Response:
            form = await request.form()
            try:
                body = msgspec.convert(
                    {k: form.get(k) for k in ("email", "username", "password")}, Registration
                )
                await auth.create_account(request, db, tasks, body)
            except (HTTPError, msgspec.ValidationError) as refused:
                email = form.get("email")
                return page(request, "register", _status(refused), error=_words(refused),
                            email=email if isinstance(email, str) else "")  # fmt: skip
            # The same page for a new and a taken address: sign-up reveals no account.
            return page(request, "register", pending=auth.signed_up)

        @router.get("/login", include_in_schema=False)
        async def login_page(request: Request) -> HTMLResponse:
            return page(request, "login")

        @router.post("/login", include_in_schema=False, middleware=auth.login_limit)
        async def login_form(request: Request, db: AsyncSession) -> Response:
            form = await request.form()
            email, password = form.get("email"), form.get("password")
            if not isinstance(email, str) or not isinstance(password, str):
                return page(request, "login", 422, error="Enter your e-mail and password")
            try:
                user = await auth.check_password(db, email[:254], password[:1024])
            except HTTPError as refused:
                return page(request, "login", refused.status_code, error=refused.detail,
                            email=email[:254])  # fmt: skip
            methods = await auth.second_step.methods(request, user, db)
            if methods:
                auth.second_step.begin(request, user, methods)
                return go("/two-factor")
            auth.complete_login(request, user)
            return RedirectResponse(home)

        @router.get("/password", include_in_schema=False)
        async def password_page(request: Request, user: OptionalUser) -> Response:
            if user is None:
                return go("/login")
            return page(request, "password")

        @router.post("/password", include_in_schema=False, middleware=auth.password_limit)
        async def password_form(request: Request, user: OptionalUser, db: AsyncSession) -> Response:
            if user is None:
                return go("/login")
            form = await request.form()
            try:
                body = msgspec.convert(
                    {k: form.get(k) for k in ("current_password", "password")}, PasswordChange
                )
                await auth.change_password(request, user, body)
            except (HTTPError, msgspec.ValidationError) as refused:
                return page(request, "password", _status(refused), error=_words(refused))
            auth.complete_login(request, user)
            return page(request, "password", changed=True)

        @router.post("/logout", include_in_schema=False)
        async def logout_form(request: Request) -> Response:
            logout(request)
            return go("/login")

        if self.two_factor is not None:
            self._two_factor_pages(router, self.two_factor)
        return router

    def _two_factor_pages(self, router: Router, two_factor: TwoFactorRoutes) -> None:
        auth, page, go, home = self.auth, self.page, self._go, self.home
        assert auth is not None
        limit = two_factor.code_limit

        @router.get("/two-factor", include_in_schema=False)
        async def challenge_page(request: Request) -> Response:
            if auth.second_step.pending_subject(request) is None:
                return go("/login")
            return page(request, "two_factor_challenge", remember=two_factor.remember_for)

        @router.post("/two-factor", include_in_schema=False, middleware=limit)
        async def challenge_form(request: Request, db: AsyncSession) -> Response:
            form = await request.form()
            code, recovery = form.get("code"), form.get("recovery_code")
            body = Challenge(
                code=code[:64] if isinstance(code, str) and code.strip() else None,
                recovery_code=recovery[:64] if isinstance(recovery, str) and recovery.strip()
                else None,
                remember=form.get("remember") == "on",
            )  # fmt: skip
            try:
                _, cookie = await two_factor.challenge(request, db, body)
            except HTTPError as refused:
                if refused.extra.get("next") == "password":
                    return go("/login")
                return page(request, "two_factor_challenge", refused.status_code,
                            error=_words(refused), remember=two_factor.remember_for)  # fmt: skip
            response = RedirectResponse(home)
            two_factor.set_device_cookie(response, cookie)
            return response

        @router.get("/two-factor/enrol", include_in_schema=False)
        async def enrol_page(request: Request, user: OptionalUser) -> Response:
            if user is None:
                return go("/login")
            return page(request, "two_factor_enrol", user=user)

        @router.post("/two-factor/enrol", include_in_schema=False)
        async def enrol_form(request: Request, user: OptionalUser, db: AsyncSession) -> Response:
            if user is None:
                return go("/login")
            password = (await request.form()).get("password")
            try:
                await two_factor.check_password(user, password if isinstance(password, str) else "")
                enrolment = await two_factor.enable(db, user)
            except HTTPError as refused:
                return page(request, "two_factor_enrol", refused.status_code, user=user,
                            error=_words(refused))  # fmt: skip
            return page(request, "two_factor_enrol", user=user, enrolment=enrolment)

        @router.post("/two-factor/confirm", include_in_schema=False, middleware=limit)
        async def confirm_form(request: Request, user: OptionalUser, db: AsyncSession) -> Response:
            if user is None:
                return go("/login")
            code = (await request.form()).get("code")
            try:
                codes = await two_factor.confirm(db, user, code if isinstance(code, str) else "")
            except HTTPError as refused:
                # The same secret again, so the app already scanned still works.
                enrolment = None
                if user.totp_secret and user.totp_confirmed_at is None:
                    enrolment = _enrolment(two_factor, user)
                return page(request, "two_factor_enrol", refused.status_code, user=user,
                            enrolment=enrolment, error=_words(refused))  # fmt: skip
            return page(request, "recovery_codes", user=user, codes=codes)

        @router.get("/two-factor/recovery-codes", include_in_schema=False)
        async def recovery_codes_page(request: Request, user: OptionalUser) -> Response:
            if user is None:
                return go("/login")
            return page(request, "recovery_codes", user=user, codes=None)

        @router.post("/two-factor/recovery-codes", include_in_schema=False)
        async def recovery_codes_form(
            request: Request, user: OptionalUser, db: AsyncSession
        ) -> Response:
            if user is None:
                return go("/login")
            password = (await request.form()).get("password")
            try:
                await two_factor.check_password(user, password if isinstance(password, str) else "")
                codes = await two_factor.regenerate(db, user)
            except HTTPError as refused:
                return page(request, "recovery_codes", refused.status_code, user=user,
                            codes=None, error=_words(refused))  # fmt: skip
            return page(request, "recovery_codes", user=user, codes=codes)

    def _go(self, path: str) -> RedirectResponse:
        return RedirectResponse(self.prefix + path)


def _enrolment(two_factor: TwoFactorRoutes, user: User) -> Any:
    from bastion.auth.two_factor import provisioning_uri, qr_svg
    from bastion.auth.two_factor_routes import Enrolment

    uri = provisioning_uri(user.totp_secret or "", user.email, two_factor.issuer)
    return Enrolment(user.totp_secret or "", uri, qr_svg(uri))


def _status(refused: Exception) -> int:
    return refused.status_code if isinstance(refused, HTTPError) else 422


def _words(refused: Exception) -> str:
    """A refusal as one sentence for a page (field errors by their reasons)."""
    if isinstance(refused, ValidationError):
        reasons = [e["reason"] for e in refused.extra.get("errors", [])]
        if reasons:
            return "; ".join(reasons)
    if isinstance(refused, HTTPError):
        return refused.detail
    return str(refused)
