"""The notifications battery: tell a user something over the channels that suit them
(see docs/notifications.md).

    from bastion.notifications import Notification, NotificationsPlugin, notify

    class ArticleCommented(Notification):
        def via(self, user) -> list[str]:
            return ["database", "broadcast", "mail"]

        def to_database(self, user) -> dict: ...
        def to_mail(self, user) -> Message: ...

    app = App(plugins=[SQLAlchemyPlugin(), PubSubPlugin(), MailPlugin(), NotificationsPlugin()])
    await notify(article.author, ArticleCommented(article, comment))

Channels: ``database`` (stored; ``Inbox`` lists and marks them, and JSON routes serve them),
``broadcast`` (the user's pub/sub topic and SSE stream, after the commit), ``mail`` (the
app's ``Mailer``, queued with jobs) and ``webhook`` (signed POSTs retried by jobs; receivers
check them with ``verify_webhook``).
"""

from bastion.notifications.database import Inbox, StoredNotification
from bastion.notifications.notification import (
    CHANNELS,
    MailNotifiable,
    Notifiable,
    Notification,
)
from bastion.notifications.notifier import EVENT, Notifier, notify
from bastion.notifications.plugin import WEBHOOK_JOB, NotificationsPlugin
from bastion.notifications.webhooks import (
    ID_HEADER,
    SIGNATURE_HEADER,
    InvalidWebhook,
    Webhook,
    WebhookDeliveryError,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "CHANNELS",
    "EVENT",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "WEBHOOK_JOB",
    "Inbox",
    "InvalidWebhook",
    "MailNotifiable",
    "Notifiable",
    "Notification",
    "NotificationsPlugin",
    "Notifier",
    "StoredNotification",
    "Webhook",
    "WebhookDeliveryError",
    "notify",
    "sign_webhook",
    "verify_webhook",
]
