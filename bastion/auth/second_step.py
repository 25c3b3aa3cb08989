"""The second step of a login: the hook through which second factors (TOTP, recovery codes,
passkeys) plug into ``AuthRoutes``' login.

After the password, a user with a second factor enrolled is *not* logged in: the session
holds only ``pending_2fa`` (a signed, five-minute token naming the user and bound to the
password hash), never the subject ``SessionAuth`` reads, so ``request.user`` stays None and
every guard refuses. A factor's own route proves the factor, then calls
``AuthRoutes.complete_login``, which logs in as a one-step login would.

A factor is anything with a ``name`` and ``async enrolled(user, db) -> bool``, added to
``auth_routes.second_step.factors``; a bypass (a remembered device) is an
``async (request, user, db) -> bool`` in ``second_step.bypasses``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

import msgspec
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.auth._signing import load_list, signed_serializer
from bastion.auth.backends.session import SESSION_KEY
from bastion.auth.login import password_check
from bastion.config import Settings
from bastion.exceptions import ConfigurationError, Unauthorized
from bastion.http.connection import HTTPConnection
from bastion.http.request import Request
from bastion.http.response import JSONResponse

#: Where the half-logged-in state lives in the session.
PENDING_KEY = "pending_2fa"


@runtime_checkable
class SecondFactor(Protocol):
    """One kind of second factor. ``enrolled`` says whether ``user`` has it turned on."""

    name: str

    async def enrolled(self, user: Any, db: AsyncSession) -> bool: ...


Bypass = Callable[[Request, Any, AsyncSession], Awaitable[bool]]


class SecondFactorRequired(msgspec.Struct):
    """The login's answer (202) when a second factor must follow the password."""

    detail: str
    methods: list[str]
    pending: str


class SecondStep:
    """``AuthRoutes.second_step``: the registered factors and bypasses, and the pending
    token between the password and the second factor."""

    def __init__(self, max_age: timedelta = timedelta(minutes=5)) -> None:
        self.factors: list[SecondFactor] = []
        self.bypasses: list[Bypass] = []
        self.max_age = int(max_age.total_seconds())
        self._serializer: URLSafeTimedSerializer | None = None

    def setup(self, secret: str | None, settings: Settings) -> None:
        self._serializer = signed_serializer(
            secret, settings.profile, "bastion.auth.second-step", "Two-step logins"
        )

    async def methods(self, request: Request, user: Any, db: AsyncSession) -> list[str]:
        """The factors ``user`` may finish with; empty when no second step is needed."""
        names = [f.name for f in self.factors if await f.enrolled(user, db)]
        if names:
            for bypass in self.bypasses:
                if await bypass(request, user, db):
                    return []
        return names

    def begin(self, request: Request, user: Any, methods: list[str]) -> JSONResponse:
        """Remember the half-done login (session and answer) and say what comes next."""
        token = self._signer().dumps([str(user.id), password_check(user) or ""])
        session = request.scope.get("session")
        if session is not None:
            if session.get(SESSION_KEY) is not None:
                session.clear()  # someone else's (or an older) login ends here
            session[PENDING_KEY] = token
        body = SecondFactorRequired(
            "The password is right; now prove the second factor ("
            + ", ".join(methods)
            + ") to finish signing in",
            methods,
            token,
        )
        return JSONResponse(body, 202)

    def pending_subject(self, request: HTTPConnection, token: str | None = None) -> str | None:
        """The user id of a valid pending login (from ``token`` or the session)."""
        payload = self._pending(request, token)
        return payload[0] if payload is not None else None

    async def pending_user(
        self, request: HTTPConnection, db: AsyncSession, model: Any, token: str | None = None
    ) -> Any:
        """The user whose password was just proven, or a 401 saying to sign in again."""
        payload = self._pending(request, token)
        user = None
        if payload is not None and payload[0].isdigit() and len(payload[0]) < 19:
            user = await db.get(model, int(payload[0]))
        if (
            payload is None
            or user is None
            or payload[1] != (password_check(user) or "")
            or not getattr(user, "is_active", True)
        ):
            raise Unauthorized(
                "No sign-in is waiting for a second factor (it expires after "
                f"{self.max_age // 60} minutes): sign in with your password again",
                extra={"next": "password"},
            )
        return user

    def _pending(self, request: HTTPConnection, token: str | None) -> tuple[str, str] | None:
        if token is None:
            session = request.scope.get("session")
            token = session.get(PENDING_KEY) if session is not None else None
        if not isinstance(token, str) or len(token) > 512:
            return None
        payload = load_list(self._signer(), token, self.max_age, str, str)
        return (payload[0], payload[1]) if payload is not None else None

    def end(self, request: HTTPConnection) -> None:
        session = request.scope.get("session")
        if session is not None:
            session.pop(PENDING_KEY, None)

    def _signer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            raise ConfigurationError("SecondStep.setup() runs when AuthRoutes joins an app")
        return self._serializer
