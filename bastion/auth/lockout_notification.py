"""The lockout notice as a notification, when the app has ``NotificationsPlugin``: stored in
the owner's inbox, pushed on their topic with ``PubSubPlugin``, and mailed with
``MailPlugin`` (the channels the app has)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.notifications import Notification

if TYPE_CHECKING:
    from bastion.auth.lockout import LockoutNotice
    from bastion.mail.message import Message
    from bastion.notifications import NotificationsPlugin


@dataclass(frozen=True)
class AccountOwner:
    """The notifiable: the locked account's id and address (not the request's ORM object)."""

    id: Any
    email: str


class AccountLocked(Notification):
    type = "account_locked"

    def __init__(self, notice: LockoutNotice, channels: list[str]) -> None:
        self.notice = notice
        self.channels = channels

    def via(self, notifiable: Any) -> list[str]:
        return self.channels

    def to_database(self, notifiable: Any) -> dict[str, Any]:
        notice = self.notice
        return {"locked_until": notice.locked_until.isoformat(), "failures": notice.failures}

    def to_broadcast(self, notifiable: Any) -> dict[str, Any]:
        return self.to_database(notifiable)

    def to_mail(self, notifiable: Any) -> Message:
        from bastion.auth.lockout import lockout_mail

        return lockout_mail(self.notice)


def notifier(plugin: NotificationsPlugin) -> Any:
    """``Lockout.notify`` through ``plugin``, over the channels the app has."""
    channels = ["database"]
    if plugin.notifier.pubsub is not None:
        channels.append("broadcast")
    if plugin.notifier.mail is not None:
        channels.append("mail")

    async def send(notice: LockoutNotice) -> None:
        if notice.user_id is None:
            return
        owner = AccountOwner(notice.user_id, notice.email)
        await plugin.notify(owner, AccountLocked(notice, channels))

    return send
