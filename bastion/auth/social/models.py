"""The table ``auth_social_accounts``: which provider account belongs to which user, and
the ``SocialUsers`` protocol through which an app's own user model takes part.

Importing this module puts the table on ``bastion.db.Model.metadata``. The user is kept as
text (``str(user.id)``, the subject ``login`` stores), so any user model fits: integer or
UUID keys, ``auth_users`` or the app's own table.
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

from sqlalchemy import String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion.auth.social.providers import SocialProfile
from bastion.db.model import IntPK, Model, Timestamps, utc_now


class SocialAccount(IntPK, Timestamps, Model):
    """One provider account (``provider``, its stable ``subject``) linked to ``user``."""

    __tablename__ = "auth_social_accounts"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    user: Mapped[str] = mapped_column(String(64), index=True)
    #: The e-mail the provider gave when the account was linked (for the user's list).
    email: Mapped[str | None] = mapped_column(String(254), default=None)

    def __repr__(self) -> str:
        return f"<SocialAccount {self.provider}:{self.subject} -> {self.user}>"


class SocialUsers(Protocol):
    """What social login needs of the app's users. A user object has ``id`` (its subject is
    ``str(user.id)``) and ``is_active``; pass your own to ``SocialRoutes(users=...)``."""

    async def get(self, db: AsyncSession, subject: str) -> Any | None:
        """The user with this subject, or None."""

    async def by_email(self, db: AsyncSession, email: str) -> Any | None:
        """The user with this (lower-case) e-mail address, or None."""

    async def create(self, db: AsyncSession, profile: SocialProfile) -> Any:
        """A new account for a verified provider e-mail (flushed, so it has an id)."""

    def has_password(self, user: Any) -> bool:
        """Whether the user can sign in without a provider (unlinking the last one is
        refused otherwise)."""


#: The password hash of accounts made by social login: not an argon2 hash, so no password
#: verifies against it until the user sets one (password reset).
NO_PASSWORD = "!social-login"


class ReadyUsers:
    """``SocialUsers`` for the ready ``bastion.auth.models.User``."""

    def __init__(self) -> None:
        from bastion.auth.models import User

        self.model = User

    async def get(self, db: AsyncSession, subject: str) -> Any | None:
        if not subject.isdigit() or len(subject) > 18:
            return None
        return await db.get(self.model, int(subject))

    async def by_email(self, db: AsyncSession, email: str) -> Any | None:
        return await db.scalar(select(self.model).where(self.model.email == email))

    async def create(self, db: AsyncSession, profile: SocialProfile) -> Any:
        email = profile.email or ""
        name = (profile.name or email.partition("@")[0] or "user")[:150]
        user = self.model(email=email, username=name, password_hash=NO_PASSWORD, roles=[])
        if hasattr(self.model, "email_verified_at"):  # the provider proved the address
            user.email_verified_at = utc_now()
        db.add(user)
        await db.flush()
        return user

    def has_password(self, user: Any) -> bool:
        return bool(user.password_hash) and user.password_hash != NO_PASSWORD


def new_secret() -> str:
    """A ``state``, ``nonce`` or PKCE verifier: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)
