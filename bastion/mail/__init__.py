"""The mail battery: messages from templates, sent over SMTP, printed, or kept for tests.

from bastion.mail import MailPlugin, Mailer, Message

app = App(plugins=[MailPlugin(templates="templates")])     # BASTION_MAIL_URL=smtp://...

@app.post("/invite")
async def invite(body: Invite, mailer: Mailer) -> None:    # body.email: EmailAddress
    await mailer.send(Message(to=body.email, subject="Join us", template="mail/invite"))

See docs/mail.md.
"""

from bastion.mail.address import EMAIL_PATTERN, EmailAddress, is_email
from bastion.mail.errors import (
    DeliveryError,
    InvalidAddress,
    InvalidMessage,
    MailAuthenticationError,
    MailError,
)
from bastion.mail.mailer import Mailer
from bastion.mail.message import Attachment, Envelope, Message, SentMail
from bastion.mail.plugin import SEND_JOB, MailPlugin
from bastion.mail.previews import MailPreviews
from bastion.mail.smtp import SMTPTransport
from bastion.mail.text import html_to_text
from bastion.mail.transport import ConsoleTransport, MemoryTransport, Transport

__all__ = [
    "EMAIL_PATTERN",
    "SEND_JOB",
    "Attachment",
    "ConsoleTransport",
    "DeliveryError",
    "EmailAddress",
    "Envelope",
    "InvalidAddress",
    "InvalidMessage",
    "MailAuthenticationError",
    "MailError",
    "MailPlugin",
    "MailPreviews",
    "Mailer",
    "MemoryTransport",
    "Message",
    "SMTPTransport",
    "SentMail",
    "Transport",
    "html_to_text",
    "is_email",
]
