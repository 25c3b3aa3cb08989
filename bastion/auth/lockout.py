"""Account lockout: after ``max_failures`` wrong passwords for one e-mail address within
``window``, log-ins to it are refused for a while, twice as long at each new lock (capped).

Failures are counted by e-mail address (a SHA-256 of it, in ``auth_login_failures``), not
by account, so an address without an account locks exactly like one with: the refusal (a
429 with ``Retry-After``), its body and its argon2 work are the same, and nobody learns
which addresses have accounts. The owner of a real account is told after the answer has
gone: a notification with ``NotificationsPlugin`` in the app (their inbox, and mail with
``MailPlugin``), else a mail with ``MailPlugin``, or ``notify=`` your own delivery.

The login throttle (``AuthRoutes(throttle=...)``) slows one client; the lockout protects
one account from many clients (a botnet guessing one password each).

    App(plugins=[database, SessionPlugin(), AuthRoutes(), Lockout()])
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import hashlib
import logging
import math
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Integer, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.model import Model
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.exceptions import ConfigurationError, TooManyRequests

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.mail.message import Message

logger = logging.getLogger("bastion.auth")


class LoginFailures(Model):
    """Failed log-ins to one e-mail address (by digest) in the current window."""

    __tablename__ = "auth_login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), default=None, index=True
    )
    #: Locks in a row (reset by a successful log-in): the next lock lasts 2**lockouts longer.
    lockouts: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class LockoutNotice:
    """What the account's owner is told: their address, and until when it is locked."""

    email: str
    locked_until: datetime.datetime
    failures: int
    #: The account's id (who a notification is for).
    user_id: Any = None


Notify = Callable[[LockoutNotice], Awaitable[Any] | None]


class Lockout:
    """``Lockout(max_failures=10, window=timedelta(minutes=15), lock_for=timedelta(minutes=15),
    max_lock=timedelta(hours=24))``. Installed next to ``AuthRoutes``, it guards its login;
    ``check``/``failed``/``succeeded`` serve a login route of your own."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window: datetime.timedelta = datetime.timedelta(minutes=15),
        lock_for: datetime.timedelta = datetime.timedelta(minutes=15),
        max_lock: datetime.timedelta = datetime.timedelta(hours=24),
        notify: Notify | None = None,
    ) -> None:
        if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1:
            raise ConfigurationError(
                f"Lockout(max_failures={max_failures!r}): give a whole number, at least 1"
            )
        zero = datetime.timedelta(0)
        if window <= zero or lock_for <= zero or max_lock < lock_for:
            raise ConfigurationError(
                "Lockout: window and lock_for must be positive and max_lock at least lock_for "
                f"(got {window}, {lock_for}, {max_lock})"
            )
        self.max_failures = max_failures
        self.window = window
        self.lock_for = lock_for
        self.max_lock = max_lock
        self.notify = notify
        self.database: SQLAlchemyPlugin | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def on_app_init(self, app: App[Any]) -> None:
        self.database = next((p for p in app.plugins if isinstance(p, SQLAlchemyPlugin)), None)
        if self.database is None:
            raise ConfigurationError(
                "Lockout counts failures in the database: add SQLAlchemyPlugin() "
                "(table auth_login_failures)"
            )
        if self.notify is None:
            self.notify = _notified(app.plugins) or _mailed_notices(app.plugins) or _logged_notice
        routes = sys.modules.get("bastion.auth.routes")
        for plugin in app.plugins:
            if routes is not None and isinstance(plugin, routes.AuthRoutes):
                plugin.lockout = self

    async def check(self, email: str, db: AsyncSession) -> TooManyRequests | None:
        """The refusal to raise when ``email`` is locked (do the password hashing work first,
        as for a wrong password), or None."""
        now = _now()
        until = await db.scalar(
            select(LoginFailures.locked_until).where(LoginFailures.key == _key(email))
        )
        if until is None or _aware(until) <= now:
            return None
        return self._locked(_aware(until) - now)

    async def failed(self, email: str, user: Any, db: AsyncSession) -> None:
        """Count a failed log-in and commit ``db`` (the request is about to be refused, which
        would roll it back); the failure that reaches ``max_failures`` locks the address and
        tells the account's owner (``user``, None when there is no account)."""
        try:
            notice = await self._count(email, db)
        except IntegrityError:  # a concurrent first failure inserted the row: count again
            await db.rollback()
            notice = await self._count(email, db)
        if (
            notice is not None
            and user is not None
            and isinstance(getattr(user, "email", None), str)
        ):
            owner = LockoutNotice(user.email, notice, self.max_failures, getattr(user, "id", None))
            self._send(owner)

    async def succeeded(self, email: str, db: AsyncSession) -> None:
        """A right password: forget the failures (with the log-in's transaction ``db``)."""
        await db.execute(delete(LoginFailures).where(LoginFailures.key == _key(email)))

    async def _count(self, email: str, db: AsyncSession) -> datetime.datetime | None:
        now, key = _now(), _key(email)
        query = select(LoginFailures).where(LoginFailures.key == key).with_for_update()
        row = await db.scalar(query)
        if row is None:
            row = LoginFailures(key=key, failures=0, window_start=now, lockouts=0)
            db.add(row)
        if row.locked_until is not None and now - _aware(row.locked_until) > self.max_lock:
            row.lockouts = 0  # a quiet day since the last lock: start over
        if now - _aware(row.window_start) > self.window:
            row.failures, row.window_start = 0, now
        row.failures += 1
        locked = None
        if row.failures >= self.max_failures:
            row.lockouts += 1
            locked = now + self._lock_length(row.lockouts)
            row.locked_until, row.failures, row.window_start = locked, 0, now
        await db.commit()
        return locked

    def _lock_length(self, lockouts: int) -> datetime.timedelta:
        factor = 1 << min(lockouts - 1, 32)
        return min(self.lock_for * factor, self.max_lock)

    def _locked(self, remaining: datetime.timedelta) -> TooManyRequests:
        seconds = max(1, math.ceil(remaining.total_seconds()))
        minutes = max(1, math.ceil(seconds / 60))
        return TooManyRequests(
            f"Too many failed log-ins for this account: try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}, or reset the password",
            headers={"retry-after": str(seconds)},
        )

    def _send(self, notice: LockoutNotice) -> None:
        """Deliver after the answer has gone, so its time reveals nothing."""
        notify = self.notify

        async def deliver() -> None:
            try:
                result = notify(notice) if notify is not None else None
                if result is not None:
                    await result
            except Exception:
                logger.exception("Lockout: could not notify %s", notice.email)

        # A context of its own: not the request's, whose database session is gone by then.
        task = asyncio.get_running_loop().create_task(deliver(), context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _logged_notice(notice: LockoutNotice) -> None:
    logger.warning(
        "Account %s locked until %s after %d failed log-ins (add MailPlugin to tell its owner)",
        notice.email,
        notice.locked_until.isoformat(),
        notice.failures,
    )


def _notified(plugins: list[Any]) -> Notify | None:
    """A notification to the account's owner, when the app has ``NotificationsPlugin``."""
    module = sys.modules.get("bastion.notifications.plugin")
    kind = module.NotificationsPlugin if module is not None else None
    plugin = next((p for p in plugins if kind and isinstance(p, kind)), None)
    if plugin is None:
        return None
    from bastion.auth.lockout_notification import notifier

    return notifier(plugin)  # type: ignore[no-any-return]


def _mailed_notices(plugins: list[Any]) -> Notify | None:
    """A mail to the account's owner, when the app has ``MailPlugin``."""
    module = sys.modules.get("bastion.mail.plugin")
    mail = next((p for p in plugins if module and isinstance(p, module.MailPlugin)), None)
    if mail is None:
        return None

    def send(notice: LockoutNotice) -> Awaitable[str]:
        return mail.mailer.send(lockout_mail(notice))  # type: ignore[no-any-return]

    return send


def lockout_mail(notice: LockoutNotice) -> Message:
    """The mail telling the owner of the lock (a ``bastion.mail.Message``)."""
    from bastion.mail.message import Message

    until = notice.locked_until.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"Someone failed to log in to your account {notice.failures} times in a row, so "
        f"log-ins are paused until {until}.\n\nIf it was you, wait, or reset your password. "
        "If it was not, your password held; consider changing it to a longer one."
    )
    return Message(to=notice.email, subject="Your account is locked for a while", text=text)


def _key(email: str) -> str:
    normalized = email.strip().lower()
    return hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()


def _aware(moment: datetime.datetime) -> datetime.datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
