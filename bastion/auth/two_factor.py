"""Two-factor authentication: TOTP (RFC 6238), recovery codes and remembered devices.

* TOTP: 30-second steps, 6 digits, SHA-1 (what every authenticator app reads), a step of
  clock drift either way; a code is refused once its step (or a later one) was used, so a
  code seen over a shoulder cannot be replayed. The secret is asked for only after it was
  confirmed with a code.
* Recovery codes: 10 of 80 random bits each, shown once, stored as SHA-256 (table
  ``auth_recovery_codes``). 80 random bits make a fast hash as safe as a slow one; an
  unkeyed hash keeps them valid when the secret key rotates. Each works once.
* Remembered devices (table ``auth_remembered_devices``): a signed cookie naming the user
  and a device record, bound to the password hash, expiring after 30 days.

The routes are in ``bastion.auth.two_factor_routes``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyotp
import segno
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import DateTime, String, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion.auth.login import password_check
from bastion.db.model import IntPK, Model, utc_now

RECOVERY_CODES = 10
DEVICE_COOKIE = "remembered_device"


class TwoFactorUser(Protocol):
    """What two-factor needs of a user model: ``id``, ``password_hash``, and the columns
    ``totp_secret`` (text, 32+ chars), ``totp_confirmed_at`` (timestamp) and
    ``totp_last_step`` (big integer), all nullable."""

    id: int
    password_hash: str
    totp_secret: str | None
    totp_confirmed_at: datetime | None
    totp_last_step: int | None


class RecoveryCode(IntPK, Model):
    __tablename__ = "auth_recovery_codes"

    user_id: Mapped[int] = mapped_column(index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class RememberedDevice(IntPK, Model):
    __tablename__ = "auth_remembered_devices"

    user_id: Mapped[int] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str] = mapped_column(String(200), default="")


# -- TOTP ------------------------------------------------------------------------------


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's advice


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The ``otpauth://`` URI as an inline SVG QR code (no network, no image file)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff"))


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code is ``code`` (one step of drift allowed), else None."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(now if now is not None else time.time(), UTC))
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def use_totp(db: AsyncSession, user: Any, code: str, secret: str | None = None) -> bool:
    """Check ``code`` against the user's secret and spend its time step, atomically: two
    requests racing with one code cannot both pass."""
    secret = secret or user.totp_secret
    step = matching_step(secret, code) if secret else None
    if step is None:
        return False
    model = type(user)
    result: Any = await db.execute(
        update(model)
        .where(model.id == user.id)
        .where(or_(model.totp_last_step.is_(None), model.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    user.totp_last_step = step
    return True


# -- recovery codes --------------------------------------------------------------------


def _code_hash(code: str) -> str:
    normal = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


async def new_recovery_codes(db: AsyncSession, user_id: int) -> list[str]:
    """Replace the user's recovery codes with ten new ones, returned once in clear."""
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    db.add_all(RecoveryCode(user_id=user_id, code_hash=_code_hash(c)) for c in codes)
    await db.flush()
    return codes


async def use_recovery_code(db: AsyncSession, user_id: int, code: str) -> bool:
    """Spend one unused code of the user's (atomically, like ``use_totp``)."""
    if len(code) > 64:
        return False
    result: Any = await db.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id)
        .where(RecoveryCode.code_hash == _code_hash(code))
        .where(RecoveryCode.used_at.is_(None))
        .values(used_at=utc_now())
    )
    return bool(result.rowcount == 1)


async def recovery_codes_left(db: AsyncSession, user_id: int) -> int:
    rows = await db.scalars(
        select(RecoveryCode.id)
        .where(RecoveryCode.user_id == user_id)
        .where(RecoveryCode.used_at.is_(None))
    )
    return len(rows.all())


async def forget_two_factor(db: AsyncSession, user: Any) -> None:
    """Turn two-factor off: secret, recovery codes and remembered devices."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await forget_devices(db, user)


async def forget_devices(db: AsyncSession, user: Any) -> None:
    """Forget ``user``'s remembered devices (a password change: the next sign-in on each
    asks for the second factor again)."""
    await db.execute(delete(RememberedDevice).where(RememberedDevice.user_id == user.id))


# -- remembered devices ----------------------------------------------------------------


class DeviceCookies:
    """The signed ``remembered_device`` cookie: user, device record, token, password."""

    def __init__(self, secret: str, max_age: timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret, salt="bastion.auth.device", signer_kwargs={"digest_method": hashlib.sha256}
        )
        self.max_age = max_age

    async def remember(self, db: AsyncSession, user: Any, user_agent: str) -> str:
        """A new device record; the cookie value to set."""
        token = secrets.token_urlsafe(24)
        device = RememberedDevice(
            user_id=user.id,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=utc_now() + self.max_age,
            user_agent=user_agent[:200],
        )
        db.add(device)
        await db.flush()
        return self._serializer.dumps([user.id, device.id, token, password_check(user) or ""])

    async def recognises(self, db: AsyncSession, user: Any, cookie: str | None) -> bool:
        """True for a valid, unexpired cookie of this user's, with the same password."""
        if not cookie or len(cookie) > 512:
            return False
        try:
            payload: Any = self._serializer.loads(cookie, max_age=int(self.max_age.total_seconds()))
        except (BadData, UnicodeError, ValueError):
            return False
        if not (isinstance(payload, list) and len(payload) == 4 and payload[0] == user.id):
            return False
        if payload[3] != (password_check(user) or "") or type(payload[1]) is not int:
            return False
        device = await db.get(RememberedDevice, payload[1])
        if device is None or device.user_id != user.id:
            return False
        expires = device.expires_at
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        digest = hashlib.sha256(str(payload[2]).encode()).hexdigest()
        return expires > utc_now() and hmac.compare_digest(device.token_hash, digest)
