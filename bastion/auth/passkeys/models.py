"""The passkey tables: ``auth_passkeys`` (one row per registered credential) and
``auth_passkey_challenges`` (challenges handed out and not yet used).

Users are named by their subject (``str(user.id)``, what the session keeps), not by a
foreign key, so the tables work with any user model; delete a user's passkeys with the user.
"""

from __future__ import annotations

import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.model import IntPK, Model, utc_now


class Passkey(IntPK, Model):
    """A WebAuthn credential of a user: its id and public key, the authenticator's signature
    counter (a count that goes backwards is refused), and what the user calls it."""

    __tablename__ = "auth_passkeys"

    user_id: Mapped[str] = mapped_column(String(64), index=True)
    #: The WebAuthn user handle (random, shared by the user's passkeys): an authenticator
    #: keeps one discoverable credential per site and handle.
    user_handle: Mapped[bytes] = mapped_column(LargeBinary(64))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(100))
    #: Whether the credential is synced (a multi-device passkey) and backed up.
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )

    def __repr__(self) -> str:
        return f"<Passkey {self.id} of user {self.user_id}: {self.name!r}>"


class PasskeyChallenge(Model):
    """A challenge handed out with options and not yet used. The session holds the challenge
    itself; the row makes using it atomic (deleted by the one request that uses it), so two
    concurrent requests on one session cannot both spend it."""

    __tablename__ = "auth_passkey_challenges"

    #: SHA-256 of the challenge.
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    #: "register" or "login".
    purpose: Mapped[str] = mapped_column(String(16))
    #: The user registering a passkey; None for a sign-in.
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Unix time after which the challenge is refused.
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
