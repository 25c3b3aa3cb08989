"""What the notification tests share: a user, notifications for each channel, and an app
with the batteries a test asks for."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bastion import App, Settings
from bastion.auth import AuthPlugin, Identity, JWTAuth
from bastion.db import SQLAlchemyPlugin
from bastion.mail import Message
from bastion.notifications import Notification, NotificationsPlugin, Webhook
from bastion.notifications.database import metadata

TOKENS = JWTAuth(secret="notification-tests-secret-of-enough-length")


@dataclass
class User:
    """A notifiable: an id, and an address for mail."""

    id: int
    email: str = ""
    webhook_url: str = ""
    webhook_secret: str = "whsec_test"


class ArticleCommented(Notification):
    """Goes through the channels it is given, for every recipient."""

    def __init__(self, article: str, comment: str, channels: tuple[str, ...] = ("database",)):
        self.article = article
        self.comment = comment
        self.channels = channels

    def via(self, notifiable: User) -> list[str]:
        return list(self.channels)

    def to_database(self, notifiable: User) -> dict[str, Any]:
        return {"article": self.article, "comment": self.comment}

    def to_mail(self, notifiable: User) -> Message:
        return Message(
            subject=f"New comment on {self.article}",
            html=f"<p>Someone wrote: <b>{self.comment}</b></p>",
        )

    def to_webhook(self, notifiable: User) -> Webhook:
        return Webhook(
            notifiable.webhook_url,
            notifiable.webhook_secret,
            {"article": self.article, "comment": self.comment},
        )


async def load_user(identity: Identity) -> User:
    return User(int(identity.subject), f"user{identity.subject}@example.com")


def auth(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS.encode({'sub': str(user_id)})}"}


def build(*plugins: Any, routes: str | None = None, url: str | None = None) -> App[Any]:
    """An app with ``plugins``, a database at ``url`` (tables created at start-up) when
    given, token auth, and NotificationsPlugin last."""
    found: list[Any] = []
    database = None
    if url is not None:
        database = SQLAlchemyPlugin(url)
        found.append(database)
    found.extend(plugins)
    found.append(AuthPlugin(TOKENS, load_user=load_user))
    found.append(NotificationsPlugin(routes=routes))
    app = App(settings=Settings(profile="test"), plugins=found)
    if database is not None:
        db = database

        @asynccontextmanager
        async def tables(app: App[Any]):  # in a project: bastion db upgrade
            assert db.engine is not None
            async with db.engine.begin() as connection:
                await connection.run_sync(metadata.drop_all)
                await connection.run_sync(metadata.create_all)
            yield

        app.lifespan_contexts.append(tables)
    return app


def plugin_of(app: App[Any]) -> NotificationsPlugin:
    return next(p for p in app.plugins if isinstance(p, NotificationsPlugin))
