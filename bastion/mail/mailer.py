"""``Mailer``: renders messages and hands them to a transport, now or through a job.

    mailer = Mailer("memory://", sender="Shop <shop@example.com>", templates="templates")
    await mailer.send(Message(to="ada@example.com", subject="Hi", template="mail/hi"))
    await mailer.send(message, queue=True)    # a bastion.mail.send job, retried on failure

In an app, ``MailPlugin`` builds it from the settings and handlers ask for ``mailer: Mailer``.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from bastion.exceptions import ConfigurationError
from bastion.mail.address import AddressLike, parse
from bastion.mail.errors import InvalidAddress
from bastion.mail.message import Envelope, Message, SentMail
from bastion.mail.render import TemplateSource, mail_environment, render
from bastion.mail.transport import MemoryTransport, Transport, transport_from_url

if TYPE_CHECKING:
    from bastion.jobs.job import Job

logger = logging.getLogger("bastion.mail")


class Mailer:
    """Sends mail through ``transport`` (a ``Transport`` or a mail URL: ``smtp://...``,
    ``smtps://...``, ``console://``, ``memory://``). ``sender`` is the From address of
    messages that name none; ``templates`` a folder, several, a ``Templates`` or a
    ``jinja2.Environment`` for ``Message(template=...)``."""

    def __init__(
        self,
        transport: Transport | str,
        *,
        sender: AddressLike | None = None,
        templates: TemplateSource | None = None,
    ) -> None:
        if isinstance(transport, str):
            transport = transport_from_url(transport)
        elif not isinstance(transport, Transport):
            raise ConfigurationError(
                f"Mailer({transport!r}): give a mail URL such as 'smtp://host:587' or an object "
                "with async send(envelope) and close()"
            )
        self.transport = transport
        try:
            self.sender = parse(sender, "sender") if sender is not None else None
        except InvalidAddress as exc:
            raise ConfigurationError(
                f"The mail sender {sender!r} is not an address: write it like "
                "'Shop <shop@example.com>' (MailPlugin(sender=...) or BASTION_MAIL_FROM)"
            ) from exc
        self.env = mail_environment(templates)
        #: The ``bastion.mail.send`` job, set by ``MailPlugin`` when the app has jobs.
        self.job: Job[Any, Any] | None = None

    def __repr__(self) -> str:
        return f"<Mailer {self.transport!r}>"

    def render(self, message: Message | EmailMessage) -> Envelope:
        """The message as it would be sent: checked, templates rendered, headers written.
        ``InvalidAddress`` (a ``ValueError``) or ``InvalidMessage`` say what is wrong."""
        return render(message, env=self.env, sender=self.sender)

    async def send(self, message: Message | EmailMessage, *, queue: bool = False) -> str:
        """Send ``message`` and return its Message-ID. With ``queue=True`` the rendered
        message is stored as a ``bastion.mail.send`` job (retried with backoff by a worker;
        inside a request using the database session, only once its transaction commits)."""
        envelope = self.render(message)
        if queue:
            if self.job is None:
                raise ConfigurationError(
                    "Mailer.send(queue=True) sends through a job, which needs JobsPlugin: "
                    "App(plugins=[..., JobsPlugin(jobs), MailPlugin(...)])"
                )
            await self.job.enqueue(
                message=envelope.to_bytes(),
                sender=envelope.sender,
                recipients=list(envelope.recipients),
            )
            logger.info("queued mail %s", envelope.message_id, extra=_fields(envelope))
            return envelope.message_id
        await self.deliver(envelope)
        return envelope.message_id

    async def deliver(self, envelope: Envelope) -> None:
        """Hand a rendered envelope to the transport (what a queued send's job does)."""
        await self.transport.send(envelope)
        logger.info("sent mail %s", envelope.message_id, extra=_fields(envelope))

    @property
    def outbox(self) -> list[SentMail]:
        """What was sent, oldest first, with the ``memory://`` transport (for tests)."""
        if not isinstance(self.transport, MemoryTransport):
            raise ConfigurationError(
                f"mailer.outbox exists with the memory:// transport; this mailer uses "
                f"{self.transport!r} (set BASTION_MAIL_URL=memory:// in tests)"
            )
        return self.transport.outbox

    async def close(self) -> None:
        """Close the transport's connections (the app's shutdown does it)."""
        await self.transport.close()


def _fields(envelope: Envelope) -> dict[str, Any]:
    return {"message_id": envelope.message_id, "recipients": len(envelope.recipients)}
