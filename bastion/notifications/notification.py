"""``Notification``: one kind of message to a user, rendered per channel.

    class ArticleCommented(Notification):
        def __init__(self, article: Article, comment: Comment) -> None: ...

        def via(self, notifiable: Notifiable) -> list[str]:
            return ["database", "broadcast"]

        def to_database(self, notifiable: Notifiable) -> dict[str, Any]:
            return {"article": self.article.slug, "comment": self.comment.body}

The hooks are declared here (``via`` and one ``to_<channel>`` per channel), so a subclass
that misspells one (``to_databse``) is refused when the class is defined, and a channel
chosen without its hook is an error that names the method to write.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bastion.mail.message import Message
    from bastion.notifications.webhooks import Webhook

#: The channels a notification can go through, in the order they are delivered.
CHANNELS = ("database", "broadcast", "mail", "webhook")
_HOOKS = tuple(f"to_{channel}" for channel in CHANNELS)


@runtime_checkable
class Notifiable(Protocol):
    """Who a notification is for: anything with an ``id`` (a user model, usually). The id,
    as text, is the key of its stored notifications and of its topic (``user:<id>``)."""

    @property
    def id(self) -> Any: ...


@runtime_checkable
class MailNotifiable(Notifiable, Protocol):
    """A notifiable that can be mailed: ``to_mail``'s message goes to ``email`` unless the
    message names its own recipients."""

    @property
    def email(self) -> str: ...


class Notification:
    """Subclass it, choose the channels per recipient in ``via`` and render each one.

    ``type`` is stored with database notifications and sent with broadcasts and webhooks;
    it defaults to the class name in snake case (``ArticleCommented`` → ``article_commented``):
    set it explicitly to keep stored rows meaningful across a rename.
    """

    type: ClassVar[str] = "notification"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" not in cls.__dict__:
            cls.type = _snake(cls.__name__)
        for name in cls.__dict__:
            if name.startswith("to_") and name not in _HOOKS:
                close = difflib.get_close_matches(name, _HOOKS, n=1, cutoff=0.75)
                if close:
                    raise TypeError(
                        f"{cls.__qualname__}.{name} is not a notification hook: did you mean "
                        f"{close[0]}? The hooks are {', '.join(_HOOKS)}"
                    )

    def via(self, notifiable: Any) -> list[str]:
        """The channels this notification goes through for ``notifiable``: any of
        ``"database"``, ``"broadcast"``, ``"mail"`` and ``"webhook"``."""
        raise NotImplementedError(
            f"{type(self).__qualname__} chooses no channel: define "
            "via(self, notifiable) -> list[str], e.g. return ['database', 'mail']"
        )

    def to_database(self, notifiable: Any) -> dict[str, Any]:
        """The JSON data stored for ``notifiable`` (``database`` channel)."""
        raise NotImplementedError(_missing(self, "database", "dict[str, Any]"))

    def to_broadcast(self, notifiable: Any) -> dict[str, Any]:
        """The JSON data pushed to ``notifiable``'s topic; by default ``to_database``'s."""
        if type(self).to_database is Notification.to_database:
            raise NotImplementedError(_missing(self, "broadcast", "dict[str, Any]"))
        return self.to_database(notifiable)

    def to_mail(self, notifiable: Any) -> Message:
        """The ``bastion.mail.Message`` for ``notifiable`` (``mail`` channel); without
        recipients it goes to ``notifiable.email``."""
        raise NotImplementedError(_missing(self, "mail", "Message"))

    def to_webhook(self, notifiable: Any) -> Webhook:
        """Where and what to POST for ``notifiable`` (``webhook`` channel)."""
        raise NotImplementedError(_missing(self, "webhook", "Webhook"))

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {self.type!r}>"


def _missing(notification: Notification, channel: str, returns: str) -> str:
    return (
        f"{type(notification).__qualname__}.via() chose the {channel!r} channel, but the class "
        f"does not render it: define to_{channel}(self, notifiable) -> {returns}"
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def notifiable_key(notifiable: Any) -> str:
    """The text that identifies ``notifiable``: its ``id`` (an auth ``Identity``'s subject)."""
    from bastion.auth.identity import Identity

    if isinstance(notifiable, Identity):
        return notifiable.subject
    try:
        key = notifiable.id
    except AttributeError:
        raise TypeError(
            f"{notifiable!r} cannot be notified: a notifiable needs an `id` (see "
            "bastion.notifications.Notifiable)"
        ) from None
    if key is None:
        raise TypeError(
            f"{notifiable!r} has no id yet: flush the session (await db.flush()) before "
            "notifying it"
        )
    return str(key)
