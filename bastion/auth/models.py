"""A ready ``User`` model (table ``auth_users``), for apps that do not bring their own.

Importing this module puts the table on ``bastion.db.Model.metadata`` (and so into
``bastion db revision --autogenerate``); apps with their own user model never import it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion.auth.identity import Identity
from bastion.db.model import IntPK, Model, Timestamps


class User(IntPK, Timestamps, Model):
    """An account: a unique e-mail (stored lower-case), a display name, an argon2id
    ``password_hash``, ``is_active`` (False refuses log-ins), ``roles``, and the columns
    of e-mail verification and two-factor authentication."""

    __tablename__ = "auth_users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(150))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: When the address was proven by a mailed link (None: not yet); see verification.py.
    email_verified_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    #: TOTP (two_factor.py): the base32 secret, when it was confirmed with a code (None:
    #: enrolment not finished, so not asked at login), and the last time step used.
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


async def load_user(identity: Identity, db: AsyncSession) -> User | None:
    """``AuthPlugin(..., load_user=load_user)``: the active ``User`` the identity names."""
    if not identity.subject.isdigit() or len(identity.subject) > 18:
        return None
    user = await db.get(User, int(identity.subject))
    return user if user is not None and user.is_active else None
