"""``notify(users, notification)``: render a notification per recipient and channel, then
deliver it.

Everything is rendered first, so a notification that cannot be rendered for one recipient is
sent to none. Then, per channel:

- ``database``: one ``INSERT`` for every recipient, in the request's transaction when there
  is one (the notification exists only if the request commits);
- ``mail``: through the app's ``Mailer``; with ``JobsPlugin``, queued as a
  ``bastion.mail.send`` job (retried with backoff), else sent once the transaction commits;
- ``webhook``: a ``bastion.notifications.webhook`` job per delivery (needs ``JobsPlugin``),
  signed at each attempt and retried with backoff;
- ``broadcast``: to the recipient's topic (``user:<id>``) through the pub/sub, after the
  transaction commits (``on_commit``), so a client never hears of a row it cannot read yet.

Each delivery that talks to another server is a job of its own: a webhook retried five
times never sends the mail again.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.exceptions import ConfigurationError
from bastion.http.response import encode_json
from bastion.notifications.database import Inbox, StoredNotification, moment
from bastion.notifications.notification import CHANNELS, Notification, notifiable_key
from bastion.notifications.webhooks import Webhook, body_of

if TYPE_CHECKING:
    from bastion.jobs.job import Job
    from bastion.mail.message import Envelope, Message
    from bastion.mail.plugin import MailPlugin
    from bastion.websockets.pubsub.base import PubSub

#: The event name of broadcasts, on SSE streams and channel sockets alike.
EVENT = "notification"


@dataclass
class _Outbox:
    """What one ``send`` delivers, rendered before anything goes out."""

    ids: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    broadcasts: list[tuple[str, Any]] = field(default_factory=list)
    mails: list[tuple[Message, Envelope]] = field(default_factory=list)
    webhooks: list[dict[str, str]] = field(default_factory=list)


class Notifier:
    """Sends notifications for one app; ``NotificationsPlugin`` makes it. The channels'
    engines are found when the app is built: the database (``SQLAlchemyPlugin``), the
    pub/sub (``PubSubPlugin``), the mailer (``MailPlugin``) and jobs (``JobsPlugin``)."""

    def __init__(self, topic: str = "user:{id}") -> None:
        if "{id}" not in topic:
            raise ConfigurationError(
                f"NotificationsPlugin(topic={topic!r}): the topic must contain {{id}}, where "
                "the user's id goes, e.g. 'user:{id}'"
            )
        self.topic = topic
        self.inbox: Inbox | None = None
        self.pubsub: PubSub | None = None
        self.mail: MailPlugin | None = None
        self.webhook_job: Job[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<Notifier topic={self.topic!r}>"

    def topic_of(self, notifiable: Any) -> str:
        """The pub/sub topic of ``notifiable``'s broadcasts (``user:<id>``)."""
        return self.topic.replace("{id}", notifiable_key(notifiable))

    async def send(self, notifiables: Any, notification: Notification) -> list[str]:
        """Notify one notifiable or several; returns the notification's id for each."""
        if not isinstance(notification, Notification):
            raise TypeError(
                f"notify() sends a bastion.notifications.Notification, not {notification!r}"
            )
        recipients = _recipients(notifiables)
        outbox = self._render(recipients, notification)
        session = _current_session()
        if outbox.rows:
            assert self.inbox is not None
            await self.inbox.store(outbox.rows)
        for message, envelope in outbox.mails:
            await self._mail(message, envelope, session)
        if outbox.webhooks:
            assert self.webhook_job is not None
            await self.webhook_job.enqueue_many(outbox.webhooks)
        if outbox.broadcasts:
            publish = _Publisher(self._pubsub(), outbox.broadcasts)
            if session is None:
                await publish()
            else:
                from bastion.db import on_commit

                on_commit(session, publish)
        return outbox.ids

    # -- rendering ---------------------------------------------------------------------------

    def _render(self, recipients: list[Any], notification: Notification) -> _Outbox:
        outbox = _Outbox()
        now = time.time()
        created = moment(now)
        kind = notification.type
        for notifiable in recipients:
            channels = self._channels(notification, notifiable)
            key = notifiable_key(notifiable)
            notification_id = uuid.uuid4().hex
            outbox.ids.append(notification_id)
            if "database" in channels:
                data = _json(notification.to_database(notifiable), notification, "to_database")
                assert self.inbox is not None
                outbox.rows.append(Inbox.row(key, notification_id, kind, data, now))
            if "broadcast" in channels:
                pushed = notification.to_broadcast(notifiable)
                _json(pushed, notification, "to_broadcast")
                payload = StoredNotification(notification_id, kind, pushed, created, None)
                outbox.broadcasts.append((self.topic_of(notifiable), msgspec.to_builtins(payload)))
            if "mail" in channels:
                outbox.mails.append(self._render_mail(notification, notifiable))
            if "webhook" in channels:
                outbox.webhooks.append(
                    self._render_webhook(notification, notifiable, notification_id, created)
                )
        return outbox

    def _channels(self, notification: Notification, notifiable: Any) -> tuple[str, ...]:
        chosen = notification.via(notifiable)
        if isinstance(chosen, str) or not all(isinstance(c, str) for c in chosen):
            raise TypeError(
                f"{type(notification).__qualname__}.via() must return a list of channel "
                f"names, not {chosen!r}"
            )
        unknown = [c for c in chosen if c not in CHANNELS]
        if unknown:
            raise ValueError(
                f"{type(notification).__qualname__}.via() chose {unknown[0]!r}: the channels "
                f"are {', '.join(map(repr, CHANNELS))}"
            )
        needs = {
            "database": (self.inbox, "SQLAlchemyPlugin (the table comes with bastion db upgrade)"),
            "broadcast": (self.pubsub, "PubSubPlugin()"),
            "mail": (self.mail, "MailPlugin(...)"),
            "webhook": (self.webhook_job, "JobsPlugin(jobs) (webhooks are retried by jobs)"),
        }
        for channel in chosen:
            engine, plugin = needs[channel]
            if engine is None:
                raise ConfigurationError(
                    f"{type(notification).__qualname__} goes through the {channel!r} channel, "
                    f"which needs {plugin} in App(plugins=[...]) beside NotificationsPlugin"
                )
        return tuple(chosen)

    def _render_mail(self, notification: Notification, notifiable: Any) -> tuple[Message, Envelope]:
        assert self.mail is not None
        message = notification.to_mail(notifiable)
        from bastion.mail.message import Message

        if not isinstance(message, Message):
            raise TypeError(
                f"{type(notification).__qualname__}.to_mail() must return a "
                f"bastion.mail.Message, not {message!r}"
            )
        if not (message.to or message.cc or message.bcc):
            try:
                message.to = notifiable.email
            except AttributeError:
                raise TypeError(
                    f"{notifiable!r} has no `email` and {type(notification).__qualname__}"
                    ".to_mail() names no recipient: give the message to=, or the notifiable "
                    "an email (see MailNotifiable)"
                ) from None
        return message, self.mail.mailer.render(message)  # bad addresses fail here, not later

    def _render_webhook(
        self, notification: Notification, notifiable: Any, notification_id: str, created: datetime
    ) -> dict[str, str]:
        webhook = notification.to_webhook(notifiable)
        if not isinstance(webhook, Webhook):
            raise TypeError(
                f"{type(notification).__qualname__}.to_webhook() must return a "
                f"bastion.notifications.Webhook, not {webhook!r}"
            )
        _json(webhook.data, notification, "to_webhook")
        body = body_of(notification_id, notification.type, created, webhook.data)
        return {
            "url": webhook.url,
            "secret": webhook.secret,
            "body": body.decode(),
            "notification_id": notification_id,
        }

    # -- delivering --------------------------------------------------------------------------

    async def _mail(self, message: Message, envelope: Envelope, session: Any) -> None:
        assert self.mail is not None
        mailer = self.mail.mailer
        if mailer.job is not None:  # JobsPlugin: a job, in the transaction or after it
            await mailer.send(message, queue=True)
        elif session is not None:
            from bastion.db import on_commit

            on_commit(session, lambda: mailer.deliver(envelope))
        else:
            await mailer.deliver(envelope)

    def _pubsub(self) -> PubSub:
        assert self.pubsub is not None
        return self.pubsub


class _Publisher:
    """Broadcasts a send's payloads (run now, or by ``on_commit``)."""

    def __init__(self, pubsub: PubSub, broadcasts: list[tuple[str, Any]]) -> None:
        self.pubsub = pubsub
        self.broadcasts = broadcasts

    async def __call__(self) -> None:
        for topic, payload in self.broadcasts:
            await self.pubsub.broadcast(topic, EVENT, payload)


def _recipients(notifiables: Any) -> list[Any]:
    if isinstance(notifiables, list | tuple | set | frozenset):
        return list(notifiables)
    if isinstance(notifiables, Iterable) and not isinstance(notifiables, str | bytes):
        return list(notifiables)
    return [notifiables]


def _json(data: Any, notification: Notification, hook: str) -> bytes:
    try:
        return encode_json(data)
    except TypeError as exc:
        raise TypeError(
            f"{type(notification).__qualname__}.{hook}() returned data that is not JSON: {exc}"
        ) from None


def _current_session() -> Any:
    """The request's database session, when the database battery is in use."""
    module = sys.modules.get("bastion.db")
    return module.current_session() if module is not None else None


# -- notify(): the app's notifier, wherever the code runs ------------------------------------

_current: ContextVar[Notifier | None] = ContextVar("bastion.notifications", default=None)
#: Notifiers of the apps running in this process, with the event loop each runs on.
running: list[tuple[Notifier, asyncio.AbstractEventLoop]] = []


def current_notifier() -> Notifier:
    """The notifier of the app handling this request (or whose lifespan this code runs in:
    a worker, a script in ``async with app.lifespan()``), else of the one app running on
    this event loop (tasks started before the app's notifications, such as an in-process
    jobs worker). Another loop's app is never used: its engines belong to that loop."""
    notifier = _current.get()
    if notifier is not None:
        return notifier
    loop = asyncio.get_running_loop()
    here = [notifier for notifier, its_loop in running if its_loop is loop]
    if len(here) == 1:
        return here[0]
    if not here:
        raise ConfigurationError(
            "notify() found no running app with notifications: add NotificationsPlugin() to "
            "App(plugins=[...]) and run the app (a server, `with TestClient(app)`, or "
            "`async with app.lifespan()`), or call plugin.notify(...) on the app's plugin"
        )
    raise ConfigurationError(
        "notify() is called outside any app while several apps with NotificationsPlugin run "
        "on this event loop: call that app's plugin.notify(...) instead"
    )


async def notify(notifiables: Any, notification: Notification) -> list[str]:
    """Send ``notification`` to one notifiable or several, through the channels its ``via``
    chooses for each; returns each recipient's notification id."""
    return await current_notifier().send(notifiables, notification)
