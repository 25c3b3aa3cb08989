"""``PasskeyRoutes``: register passkeys, sign in with them without a password, and manage
them; JSON routes under ``prefix`` and a page at ``page`` (template ``auth/passkeys.html``).

``App(plugins=[database, SessionPlugin(), AuthPlugin(SessionAuth(), load_user=load_user),
AuthRoutes(), PasskeyRoutes()])``, with ``BASTION_WEBAUTHN_RP_ID`` and
``BASTION_WEBAUTHN_ORIGINS`` set.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import msgspec
import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import AttestationConveyancePreference, ResidentKeyRequirement

from bastion.auth._templates import AppTemplates, auth_templates
from bastion.auth.guards import CurrentUser, OptionalUser
from bastion.auth.login import login
from bastion.auth.models import User
from bastion.auth.passkeys import ceremony
from bastion.auth.passkeys.ceremony import Challenges, RelyingParty, Verification, refusal
from bastion.auth.passkeys.models import Passkey
from bastion.auth.plugin import AuthPlugin
from bastion.auth.routes import AuthRoutes
from bastion.auth.sessions.plugin import SessionPlugin
from bastion.db.model import utc_now
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError, Conflict, HTTPError, NotFound, Unauthorized
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, Response
from bastion.routing.router import Router
from bastion.security.csrf import ACTIVE as CSRF_ACTIVE
from bastion.security.csrf import csrf_token
from bastion.security.ratelimit import RateLimit, by_ip

if TYPE_CHECKING:
    from bastion.app import App

SCRIPT = Path(__file__).resolve().parents[1] / "static" / "auth" / "passkeys.js"
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class PasskeyUser(Protocol):
    """What ``PasskeyRoutes`` needs of a user model (the ready ``User`` has it all): an
    ``id`` (int or str primary key), ``email`` (shown by the authenticator), ``username``
    (its display name), ``is_active``, and ``password_hash`` (None, empty or ``!``-prefixed
    for accounts without a password, which must keep one passkey)."""

    id: Any
    email: str
    username: str
    is_active: bool
    password_hash: str | None


class NewPasskey(msgspec.Struct):
    """The browser's ``PublicKeyCredential`` (binary fields in base64url), and a name."""

    credential: dict[str, Any]
    name: Name | None = None


class Assertion(msgspec.Struct):
    """The browser's ``PublicKeyCredential`` from ``navigator.credentials.get``."""

    credential: dict[str, Any]


class SecondFactorOptions(msgspec.Struct):
    """``pending``: the token of the login's 202, for clients without the session."""

    pending: str | None = None


class SecondFactorAssertion(msgspec.Struct):
    credential: dict[str, Any]
    pending: str | None = None


class Rename(msgspec.Struct):
    name: Name


class PasskeyInfo(msgspec.Struct):
    id: int
    name: str
    credential_id: str
    transports: list[str]
    backed_up: bool
    created_at: datetime.datetime
    last_used_at: datetime.datetime | None


class SignedIn(msgspec.Struct):
    id: int | str
    email: str
    username: str
    passkey: PasskeyInfo


OtherLogins = Callable[[Any, AsyncSession], Awaitable[bool]]


def has_password(user: Any) -> bool:
    """Whether the user can sign in with a password (Django's convention: a hash that is
    empty or starts with ``!`` is unusable)."""
    value = getattr(user, "password_hash", None)
    return isinstance(value, str) and bool(value) and not value.startswith("!")


class PasskeyRoutes:
    """``POST {prefix}/register/options`` and ``{prefix}/register`` (signed in),
    ``{prefix}/login/options`` and ``{prefix}/login`` (password-less sign-in with a
    discoverable credential), ``GET {prefix}``, ``PATCH`` and ``DELETE {prefix}/{id}``;
    the script at ``{prefix}/passkeys.js`` and the page at ``page``."""

    def __init__(
        self,
        *,
        prefix: str = "/auth/passkeys",
        page: str | None = "/passkeys",
        user_model: type[Any] = User,
        rp_id: str | None = None,
        origins: list[str] | None = None,
        user_verification: Verification = "preferred",
        resident_key: ResidentKeyRequirement = ResidentKeyRequirement.REQUIRED,
        attestation: AttestationConveyancePreference = AttestationConveyancePreference.NONE,
        challenge_lifetime: datetime.timedelta = datetime.timedelta(minutes=5),
        throttle: str | None = "10/minute",
        other_logins: OtherLogins | None = None,
        second_factor: bool = True,
        templates: AppTemplates = None,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.page = page
        self.user_model = user_model
        self.rp_id, self.origins = rp_id, origins
        self.user_verification: Verification = user_verification
        self.resident_key = resident_key
        self.attestation = attestation
        self.challenges = Challenges(int(challenge_lifetime.total_seconds()))
        self.timeout = int(challenge_lifetime.total_seconds() * 1000)
        self.throttle = throttle
        #: ``async (user, db) -> bool``: whether the user has another way in besides a
        #: password (a social login); the last passkey of a user with none stays.
        self.other_logins = other_logins
        #: With ``AuthRoutes`` in the app, a user with a passkey proves it after the
        #: password (the login's second step), at ``{prefix}/second-factor``.
        self.second_factor = second_factor
        self.auth: AuthRoutes | None = None
        self.templates = templates
        self.challenge_header = 'Cookie realm="session"'

    def on_app_init(self, app: App[Any]) -> None:
        plugins = app.plugins
        needs = (
            (SQLAlchemyPlugin, "the database: add SQLAlchemyPlugin()"),
            (SessionPlugin, "sessions to keep challenges and log in: add SessionPlugin()"),
            (AuthPlugin, "AuthPlugin(SessionAuth(), load_user=load_user) to know who is in"),
        )
        for kind, what in needs:
            if not any(isinstance(p, kind) for p in plugins):
                raise ConfigurationError(f"PasskeyRoutes needs {what}")
        auth = next(p for p in plugins if isinstance(p, AuthPlugin))
        self.challenge_header = auth.challenges
        self.party = RelyingParty.from_settings(app.settings, self.rp_id, self.origins)
        self.subject_type = _primary_key_type(self.user_model)
        self.pages = auth_templates(self.templates)
        if self.page is not None:
            self.pages.check("auth/passkeys.html")
        self.script = SCRIPT.read_bytes()
        routes = next((p for p in plugins if isinstance(p, AuthRoutes)), None)
        if self.second_factor and routes is not None and routes.sessions:
            self.auth = routes
            routes.second_step.factors.append(_Factor())
        app.include(self.router())
        if self.page is not None:
            app.get(self.page, include_in_schema=False, name="passkeys_page")(self._page_handler())

    def router(self) -> Router:
        router = Router(self.prefix, tags=["passkeys"])
        party, challenges = self.party, self.challenges
        require_uv = self.user_verification == "required"
        limit = [RateLimit(self.throttle, key=by_ip, name="auth-passkey")] if self.throttle else []

        @router.post("/register/options", status_code=200, responses={401: "Not signed in"})
        async def passkey_register_options(
            user: CurrentUser, request: Request, db: AsyncSession
        ) -> dict[str, Any]:
            """Options for ``navigator.credentials.create``, with a fresh challenge."""
            subject = str(user.id)
            owned = list(await db.scalars(select(Passkey).where(Passkey.user_id == subject)))
            handle = owned[0].user_handle if owned else secrets.token_bytes(32)
            challenge = await challenges.issue(request.session, db, "register", subject, handle)
            return ceremony.registration_options(
                party,
                challenge,
                user_handle=handle,
                user_name=user.email,
                display_name=user.username or user.email,
                exclude=[p.credential_id for p in owned],
                resident_key=self.resident_key,
                user_verification=self.user_verification,
                attestation=self.attestation,
                timeout=self.timeout,
            )

        @router.post(
            "/register",
            status_code=201,
            responses={400: "Refused credential or challenge", 409: "Already registered"},
        )
        async def passkey_register(
            body: NewPasskey, user: CurrentUser, request: Request, db: AsyncSession
        ) -> PasskeyInfo:
            """Verify the new credential against the session's challenge and keep it."""
            subject = str(user.id)
            challenge, handle = await challenges.take(request.session, db, "register", subject)
            verified = ceremony.verify_registration(
                party, body.credential, challenge, require_uv=require_uv
            )
            if await Passkey.exists(db, Passkey.credential_id == verified.credential_id):
                raise refusal(
                    Conflict,
                    "registered",
                    "This passkey is registered already; use it to sign in, or register "
                    "another authenticator",
                )
            response = body.credential.get("response")
            transports = response.get("transports") if isinstance(response, dict) else None
            count = await db.scalar(select(func.count()).where(Passkey.user_id == subject))
            passkey = Passkey(
                user_id=subject,
                user_handle=handle,
                credential_id=verified.credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=[t for t in transports or () if isinstance(t, str)][:8],
                name=body.name or f"Passkey {(count or 0) + 1}",
                backed_up=verified.credential_backed_up,
            )
            db.add(passkey)
            await db.flush()
            return info(passkey)

        @router.post("/login/options", status_code=200)
        async def passkey_login_options(request: Request, db: AsyncSession) -> dict[str, Any]:
            """Options for ``navigator.credentials.get`` with no credential listed: the
            browser offers the passkeys it holds for this site."""
            challenge = await challenges.issue(request.session, db, "login", None)
            return ceremony.authentication_options(
                party,
                challenge,
                allow=[],
                user_verification=self.user_verification,
                timeout=self.timeout,
            )

        @router.post(
            "/login",
            status_code=200,
            responses={400: "No usable challenge", 401: "Passkey refused", 429: "Too many"},
            middleware=limit,
        )
        async def passkey_login(body: Assertion, request: Request, db: AsyncSession) -> SignedIn:
            """Sign in: verify the assertion and log the session in as the passkey's user."""
            challenge, _ = await challenges.take(request.session, db, "login", None)
            passkey, user = await self._verified(db, body.credential, challenge, require_uv)
            login(request, user)
            return SignedIn(user.id, user.email, user.username, info(passkey))

        if self.auth is not None:
            self._second_factor_routes(router, self.auth)

        @router.get("", responses={401: "Not signed in"})
        async def passkey_list(user: CurrentUser, db: AsyncSession) -> list[PasskeyInfo]:
            """The signed-in user's passkeys, oldest first."""
            query = select(Passkey).where(Passkey.user_id == str(user.id)).order_by(Passkey.id)
            return [info(p) for p in await db.scalars(query)]

        @router.patch("/{passkey_id:int}", responses={401: "Not signed in", 404: "No such"})
        async def passkey_rename(
            passkey_id: int, body: Rename, user: CurrentUser, db: AsyncSession
        ) -> PasskeyInfo:
            """Give one of your passkeys a new name."""
            passkey = await _owned(db, passkey_id, user)
            passkey.name = body.name
            return info(passkey)

        @router.delete(
            "/{passkey_id:int}",
            status_code=204,
            responses={401: "Not signed in", 404: "No such", 409: "Last way to sign in"},
        )
        async def passkey_delete(passkey_id: int, user: CurrentUser, db: AsyncSession) -> None:
            """Remove one of your passkeys; the last one stays while you have no other way
            to sign in."""
            passkey = await _owned(db, passkey_id, user)
            count = await db.scalar(select(func.count()).where(Passkey.user_id == passkey.user_id))
            if count == 1 and not await self._can_sign_in_otherwise(user, db):
                raise refusal(
                    Conflict,
                    "last_login_method",
                    "This passkey is your only way to sign in; set a password or add another "
                    "passkey before removing it",
                )
            await db.delete(passkey)

        script = self.script

        @router.get("/passkeys.js", include_in_schema=False)
        async def passkey_script() -> Response:
            headers = {
                "content-type": "text/javascript; charset=utf-8",
                "cache-control": "public, max-age=3600",
            }
            return Response(script, 200, headers)

        return router

    def _second_factor_routes(self, router: Router, auth: AuthRoutes) -> None:
        """The login's second step with a passkey of the user whose password was proven."""
        challenges, step = self.challenges, auth.second_step
        require_uv = self.user_verification == "required"

        @router.post(
            "/second-factor/options",
            status_code=200,
            responses={401: "No sign-in is waiting for a second factor"},
        )
        async def passkey_second_factor_options(
            body: SecondFactorOptions, request: Request, db: AsyncSession
        ) -> dict[str, Any]:
            """Options for ``navigator.credentials.get`` listing the pending user's passkeys."""
            user = await step.pending_user(request, db, self.user_model, body.pending)
            subject = str(user.id)
            owned = await db.scalars(
                select(Passkey.credential_id).where(Passkey.user_id == subject)
            )
            challenge = await challenges.issue(request.session, db, "second", subject)
            return ceremony.authentication_options(
                self.party,
                challenge,
                allow=list(owned),
                user_verification=self.user_verification,
                timeout=self.timeout,
            )

        @router.post(
            "/second-factor",
            status_code=200,
            responses={400: "No usable challenge", 401: "Passkey refused"},
        )
        async def passkey_second_factor(
            body: SecondFactorAssertion, request: Request, db: AsyncSession
        ) -> Any:
            """Finish the pending login with one of the user's passkeys; answers as login."""
            user = await step.pending_user(request, db, self.user_model, body.pending)
            subject = str(user.id)
            challenge, _ = await challenges.take(request.session, db, "second", subject)
            await self._verified(db, body.credential, challenge, require_uv, subject)
            return auth.complete_login(request, user)

    def _page_handler(self) -> Callable[..., Awaitable[HTMLResponse]]:
        pages, api = self.pages, self.prefix

        async def passkeys_page(request: Request, user: OptionalUser) -> HTMLResponse:
            """Sign in with a passkey, or (signed in) add, rename and remove them."""
            token = csrf_token(request) if request.scope.get(CSRF_ACTIVE) else None
            context = {"user": user, "api": api, "script": f"{api}/passkeys.js", "csrf": token}
            return pages.render(request, "auth/passkeys.html", context)

        return passkeys_page

    async def _verified(
        self,
        db: AsyncSession,
        credential: dict[str, Any],
        challenge: bytes,
        require_uv: bool,
        subject: str | None = None,
    ) -> tuple[Passkey, Any]:
        """The passkey that signed ``challenge`` (one of ``subject``'s, if given) and its
        active user, its counter and last use updated; else a 4xx saying what next."""
        raw_id = ceremony.credential_id(credential)
        query = select(Passkey).where(Passkey.credential_id == raw_id)
        if subject is not None:
            query = query.where(Passkey.user_id == subject)
        passkey = await db.scalar(query)
        user = await self._user(db, passkey.user_id) if passkey is not None else None
        if passkey is None or user is None:
            raise self._unknown()
        verified = ceremony.verify_authentication(
            self.party,
            credential,
            challenge,
            public_key=passkey.public_key,
            require_uv=require_uv,
            challenge_header=self.challenge_header,
        )
        if _user_handle_of(credential) not in (None, passkey.user_handle):
            raise self._unknown()
        counted = verified.new_sign_count
        if (counted or passkey.sign_count) and counted <= passkey.sign_count:
            raise refusal(
                Unauthorized,
                "sign_count",
                f"This passkey's signature counter went back ({counted}, after "
                f"{passkey.sign_count}): it may have been copied, so it is refused. Sign "
                "in another way and remove this passkey from your account",
                **{"www-authenticate": self.challenge_header},
            )
        passkey.sign_count = counted
        passkey.backed_up = verified.credential_backed_up
        passkey.last_used_at = utc_now()
        return passkey, user

    async def _user(self, db: AsyncSession, subject: str) -> Any | None:
        """The active user the subject names, None otherwise."""
        if self.subject_type is int:
            if not subject.isdigit() or len(subject) > 18:
                return None
            user = await db.get(self.user_model, int(subject))
        else:
            user = await db.get(self.user_model, subject)
        return user if user is not None and getattr(user, "is_active", True) else None

    async def _can_sign_in_otherwise(self, user: Any, db: AsyncSession) -> bool:
        if has_password(user):
            return True
        return self.other_logins is not None and await self.other_logins(user, db)

    def _unknown(self) -> HTTPError:
        return refusal(
            Unauthorized,
            "unknown_credential",
            "This passkey is not registered here (or its account is closed); sign in another "
            "way and add it to your account's passkeys",
            **{"www-authenticate": self.challenge_header},
        )


class _Factor:
    """The passkey as a second factor of ``AuthRoutes``' login: enrolled once the user has
    registered one."""

    name = "passkey"

    async def enrolled(self, user: Any, db: AsyncSession) -> bool:
        return await Passkey.exists(db, Passkey.user_id == str(user.id))


def info(passkey: Passkey) -> PasskeyInfo:
    return PasskeyInfo(
        passkey.id,
        passkey.name,
        bytes_to_base64url(passkey.credential_id),
        list(passkey.transports or ()),
        passkey.backed_up,
        _utc(passkey.created_at),
        _utc(passkey.last_used_at) if passkey.last_used_at is not None else None,
    )


def _utc(moment: datetime.datetime) -> datetime.datetime:
    """SQLite returns naive timestamps; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


async def _owned(db: AsyncSession, passkey_id: int, user: Any) -> Passkey:
    passkey = await db.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != str(user.id):
        raise NotFound(f"You have no passkey {passkey_id}; list yours with GET on the passkeys")
    return passkey


def _user_handle_of(credential: dict[str, Any]) -> bytes | None:
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    try:
        return base64url_to_bytes(handle) if isinstance(handle, str) and handle else None
    except ValueError:
        return b""  # a handle that is no handle matches no passkey


def _primary_key_type(model: type[Any]) -> type:
    try:
        columns = sqlalchemy.inspect(model).primary_key
    except sqlalchemy.exc.NoInspectionAvailable:
        columns = ()
    if len(columns) != 1:
        raise ConfigurationError(
            f"PasskeyRoutes(user_model={getattr(model, '__name__', model)!r}): the user model "
            "must be a mapped class with a one-column primary key `id`"
        )
    return int if columns[0].type.python_type is int else str
