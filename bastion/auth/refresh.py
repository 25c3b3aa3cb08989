"""Refresh tokens for ``JWTAuth``: short-lived access tokens, long-lived opaque refresh tokens.

A refresh token is 256 random bits; the table ``auth_refresh_tokens`` keeps only its SHA-256,
so a database dump hands out nothing usable. Each use rotates it: the answer is a new access
token and a new refresh token of the same *family* (one sign-in on one device), and the old
one is marked used. Presenting a used token again means two parties hold the family (a stolen
copy, or the legitimate client after the thief refreshed first): the whole family is revoked
and both must log in again (RFC 9700 §4.14.2, OAuth 2.0 Security BCP).

    refresh = RefreshTokens(tokens)          # tokens: the app's JWTAuth
    App(plugins=[database, AuthPlugin(tokens, ...), AuthRoutes(tokens=tokens), refresh])

With ``AuthRoutes`` in the app, register and login answer a ``refresh_token`` too, and a
password reset revokes every family of the user. Each operation is a short transaction of
its own, so a revocation holds even when the request that caused it is refused.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import secrets
import sys
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from sqlalchemy import DateTime, ForeignKey, Integer, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from bastion.auth.backends.jwt import JWTAuth
from bastion.db import current_session
from bastion.db.model import Model
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError, Unauthorized
from bastion.http.connection import HTTPConnection
from bastion.http.request import Request
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.app import App

#: One rotation in this many also deletes expired rows.
PURGE_ODDS = 100
#: The access token's claim naming its family (so logging out with it revokes the family).
FAMILY_CLAIM = "fam"


class RefreshTokenRow(Model):
    """One refresh token (by hash); ``used_at`` once rotated, ``revoked_at`` once revoked."""

    __tablename__ = "auth_refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_refresh_tokens.id", ondelete="SET NULL"), default=None
    )
    subject: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


class TokenPair(msgspec.Struct):
    """What a log-in or a refresh answers (RFC 6749 §5.1's field names)."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


class RefreshRequest(msgspec.Struct):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class RefreshTokens:
    """Issues, rotates and revokes refresh tokens, and adds ``POST {prefix}/token/refresh``
    and ``POST {prefix}/token/revoke``. ``access_expires_in`` is the access tokens' lifetime
    (short: a stolen one is good for minutes); ``expires_in`` the refresh tokens' (each
    rotation starts it again)."""

    def __init__(
        self,
        tokens: JWTAuth,
        *,
        prefix: str = "/auth",
        access_expires_in: datetime.timedelta = datetime.timedelta(minutes=15),
        expires_in: datetime.timedelta = datetime.timedelta(days=30),
        user_model: type[Any] | None = None,
    ) -> None:
        if not isinstance(tokens, JWTAuth):
            raise ConfigurationError(
                f"RefreshTokens({tokens!r}): give the app's JWTAuth, the one that signs the "
                "access tokens"
            )
        if access_expires_in <= datetime.timedelta(0) or expires_in <= access_expires_in:
            raise ConfigurationError(
                "RefreshTokens: access_expires_in must be positive and shorter than "
                f"expires_in (got {access_expires_in} and {expires_in})"
            )
        self.tokens = tokens
        self.prefix = prefix
        self.access_expires_in = access_expires_in
        self.expires_in = expires_in
        #: Whose ``is_active`` a refresh checks (subject = primary key); with ``AuthRoutes``
        #: in the app, the ready ``User`` unless given.
        self.user_model = user_model
        self.database: SQLAlchemyPlugin | None = None

    def on_app_init(self, app: App[Any]) -> None:
        self.database = next((p for p in app.plugins if isinstance(p, SQLAlchemyPlugin)), None)
        if self.database is None:
            raise ConfigurationError(
                "RefreshTokens keeps its tokens in the database: add SQLAlchemyPlugin() "
                "(table auth_refresh_tokens)"
            )
        module = sys.modules.get("bastion.auth.routes")
        for plugin in app.plugins:
            if module is not None and isinstance(plugin, module.AuthRoutes):
                plugin.refresh = self
                if self.user_model is None:
                    self.user_model = sys.modules["bastion.auth.models"].User
                plugin.password_changed.append(self._password_changed)
                plugin.logged_out.append(self.revoke_presented)
        self._int_key = self.user_model is not None and isinstance(
            self.user_model.__table__.primary_key.columns.values()[0].type, Integer
        )
        app.include(self.router())

    def _sessions(self) -> async_sessionmaker[AsyncSession]:
        if self.database is None or self.database.sessions is None:
            raise RuntimeError("RefreshTokens: the database is not started")
        return self.database.sessions

    # -- issuing -----------------------------------------------------------------------------
    def issue(
        self,
        subject: str,
        connection: HTTPConnection | None = None,
        *,
        db: AsyncSession | None = None,
    ) -> TokenPair:
        """A new family for ``subject`` (a log-in), added to ``db`` (default: the request's
        session), so the tokens exist exactly when the log-in is committed."""
        db = db if db is not None else current_session()
        if db is None:
            raise RuntimeError(
                "RefreshTokens.issue needs a database session: call it from a handler that "
                "takes `db: AsyncSession`, or pass db="
            )
        return self._issue(db, subject, secrets.token_hex(16), None, connection)

    def _issue(
        self,
        db: AsyncSession,
        subject: str,
        family: str,
        parent: RefreshTokenRow | None,
        connection: HTTPConnection | None,
    ) -> TokenPair:
        raw = secrets.token_urlsafe(32)
        now = _now()
        agent, ip = _device(connection)
        db.add(
            RefreshTokenRow(
                token_hash=_digest(raw),
                family=family,
                parent_id=parent.id if parent is not None else None,
                subject=subject,
                created_at=now,
                expires_at=now + self.expires_in,
                user_agent=agent,
                ip=ip,
            )
        )
        access = self.tokens.encode(
            {"sub": subject, FAMILY_CLAIM: family}, expires_in=self.access_expires_in
        )
        seconds = int(self.access_expires_in.total_seconds())
        return TokenPair(access, raw, seconds, self.tokens.scheme_word)

    # -- rotating ----------------------------------------------------------------------------
    async def rotate(self, raw: str, connection: HTTPConnection | None = None) -> TokenPair:
        """Trade a refresh token for a new pair, or raise ``Unauthorized`` saying to log in
        again; presenting a used token revokes its whole family first."""
        digest, now = _digest(raw), _now()
        async with self._sessions()() as db:
            claimed = await db.execute(
                update(RefreshTokenRow)
                .where(
                    RefreshTokenRow.token_hash == digest,
                    RefreshTokenRow.used_at.is_(None),
                    RefreshTokenRow.revoked_at.is_(None),
                    RefreshTokenRow.expires_at > now,
                )
                .values(used_at=now)
                # "evaluate" (the default) compares expires_at in Python with rows already
                # loaded, which SQLite hands back without a time zone: a TypeError, a 500.
                .execution_options(synchronize_session="fetch")
            )
            row = await db.scalar(
                select(RefreshTokenRow).where(RefreshTokenRow.token_hash == digest)
            )
            if getattr(claimed, "rowcount", 0) == 1 and row is not None:
                if not await self._active(db, row.subject):  # disabled or deleted since
                    await db.execute(_revoke(RefreshTokenRow.family == row.family, now))
                    await db.commit()
                    raise self._refused(
                        "This sign-in has ended: the account is disabled or no longer exists; "
                        "log in again"
                    )
                pair = self._issue(db, row.subject, row.family, row, connection)
                if random.randrange(PURGE_ODDS) == 0:
                    expired = RefreshTokenRow.expires_at <= now
                    purge = delete(RefreshTokenRow).where(expired)
                    # Not "evaluate": SQLite's naive expires_at against an aware now is a
                    # TypeError (the rows this request holds are not expired anyway).
                    await db.execute(purge.execution_options(synchronize_session=False))
                await db.commit()
                return pair
            if row is not None and row.used_at is not None and row.revoked_at is None:
                await db.execute(_revoke(RefreshTokenRow.family == row.family, now))
                await db.commit()
                raise self._refused(
                    "This refresh token was already used, so every token of this sign-in has "
                    "been revoked (it may have been stolen); log in again"
                )
            revoked = row is not None and row.revoked_at is not None
            await db.rollback()
        if row is None:
            raise self._refused("The refresh token is not valid; log in again")
        if revoked:
            raise self._refused("The refresh token has been revoked; log in again")
        raise self._refused("The refresh token has expired; log in again")

    async def _active(self, db: AsyncSession, subject: str) -> bool:
        """The subject's user still exists and is active (always, without a user model)."""
        if self.user_model is None:
            return True
        key: Any = subject
        if self._int_key:
            if not subject.isdigit() or len(subject) > 18:
                return False
            key = int(subject)
        user = await db.get(self.user_model, key)
        return user is not None and getattr(user, "is_active", True) is not False

    # -- revoking ----------------------------------------------------------------------------
    async def revoke(self, raw: str) -> None:
        """Revoke the family of a refresh token (logging out); unknown tokens are ignored."""
        async with self._sessions()() as db:
            family = await db.scalar(
                select(RefreshTokenRow.family).where(RefreshTokenRow.token_hash == _digest(raw))
            )
            if family is not None:
                await db.execute(_revoke(RefreshTokenRow.family == family, _now()))
                await db.commit()

    async def revoke_family(self, family: str) -> None:
        async with self._sessions()() as db:
            await db.execute(_revoke(RefreshTokenRow.family == family, _now()))
            await db.commit()

    async def revoke_user(self, subject: str, *, db: AsyncSession | None = None) -> None:
        """Revoke every refresh token of ``subject`` (a password change or reset), in ``db``'s
        transaction when given (it commits with the new password)."""
        if db is not None:
            await db.execute(_revoke(RefreshTokenRow.subject == subject, _now()))
            return
        async with self._sessions()() as db:
            await db.execute(_revoke(RefreshTokenRow.subject == subject, _now()))
            await db.commit()

    async def revoke_presented(self, connection: HTTPConnection) -> None:
        """Log out the family of the access token the request carries, if it has one."""
        header = connection.headers.get("authorization", "")
        word, _, token = header.strip().partition(" ")
        if word.lower() != self.tokens.scheme_word.lower() or not token:
            return
        try:
            claims = self.tokens.decode(token.strip())
        except Unauthorized:
            return
        family = claims.get(FAMILY_CLAIM)
        if isinstance(family, str):
            await self.revoke_family(family)

    async def _password_changed(self, connection: HTTPConnection, user: Any) -> None:
        await self.revoke_user(str(user.id), db=current_session())

    # -- routes ------------------------------------------------------------------------------
    def router(self) -> Router:
        router = Router(self.prefix, tags=["auth"])
        refused = {401: "The refresh token is not valid, expired, revoked or reused: log in again"}

        @router.post("/token/refresh", status_code=200, responses=refused)
        async def refresh_token(body: RefreshRequest, request: Request) -> TokenPair:
            """Trade a refresh token for a new access token and a new refresh token; the old
            refresh token is spent, and presenting it again revokes the sign-in."""
            return await self.rotate(body.refresh_token, request)

        @router.post("/token/revoke", status_code=204)
        async def revoke_token(body: RefreshRequest) -> None:
            """Revoke a refresh token and its sign-in (log out a token client); unknown
            tokens answer the same (RFC 7009)."""
            await self.revoke(body.refresh_token)

        return router

    def _refused(self, detail: str) -> Unauthorized:
        challenge = f'{self.tokens.scheme_word} error="invalid_token"'
        return Unauthorized(detail, headers={"www-authenticate": challenge})


def _revoke(where: Any, now: datetime.datetime) -> Any:
    return (
        update(RefreshTokenRow)
        .where(where, RefreshTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )


def _device(connection: HTTPConnection | None) -> tuple[str, str]:
    if connection is None:
        return "", ""
    agent = connection.headers.get("user-agent", "")[:256]
    client = connection.client
    return agent, client[0][:64] if client else ""


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
