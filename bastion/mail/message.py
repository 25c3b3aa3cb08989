"""``Message``: what an application writes; ``Envelope``: what a transport sends.

    message = Message(
        to="Zoë Martin <zoe@example.com>",
        subject="Bienvenue, Zoë",
        template="mail/welcome",            # mail/welcome.html and/or mail/welcome.txt
        context={"name": "Zoë"},
    )
    message.attach("invoice.pdf", pdf_bytes)
    logo = message.inline("logo.png", png_bytes)   # <img src="{{ cid['logo.png'] }}">

``Mailer.render`` turns a message into an ``email.message.EmailMessage`` (the standard
library's, so anything it can express can be sent as well) inside an ``Envelope``: the
sender and every recipient, Bcc included, whose header is never written. The structure is
the one mail clients expect: ``multipart/mixed`` (attachments) around
``multipart/alternative`` (text, then HTML) around ``multipart/related`` (HTML and its
inline images).
"""

from __future__ import annotations

import email
import email.policy
import mimetypes
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from bastion.mail.address import Addresses, AddressLike
from bastion.mail.errors import InvalidMessage

_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable ASCII but ':'
#: Headers a message sets from its own fields; giving them in ``headers=`` is refused.
_OWN_HEADERS = {
    "from": "sender=",
    "to": "to=",
    "cc": "cc=",
    "bcc": "bcc=",
    "reply-to": "reply_to=",
    "subject": "subject=",
    "content-type": "text=/html=/attach()",
    "content-transfer-encoding": "text=/html=",
    "mime-version": "nothing (it is always 1.0)",
}
#: How envelopes are stored (queued sends) and read back.
STORAGE_POLICY = email.policy.default.clone(utf8=True)


@dataclass(frozen=True)
class Attachment:
    """A file carried by a message; ``cid`` is set for an inline image (``cid:`` URL)."""

    filename: str
    content: bytes
    content_type: str
    cid: str | None = None


class Message:
    """A mail to render and send. Addresses take ``"ada@example.com"``, ``"Ada
    <ada@example.com>"`` or ``("Ada", "ada@example.com")``, one or a list. The body is
    ``text=`` and/or ``html=``, or ``template=`` (a name without extension: its ``.html``
    and ``.txt`` templates, at least one of which must exist). Without a text part, one is
    made from the HTML. ``sender`` defaults to the mailer's."""

    def __init__(
        self,
        *,
        to: Addresses = (),
        subject: str = "",
        text: str | None = None,
        html: str | None = None,
        template: str | None = None,
        context: Mapping[str, Any] | None = None,
        sender: AddressLike | None = None,
        cc: Addresses = (),
        bcc: Addresses = (),
        reply_to: Addresses = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.template = template
        self.context: dict[str, Any] = dict(context) if context else {}
        self.sender = sender
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self.attachments: list[Attachment] = []
        self.inline_images: list[Attachment] = []

    def __repr__(self) -> str:
        return f"<Message to={self.to!r} subject={self.subject!r}>"

    def attach(self, filename: str, content: bytes | str, content_type: str | None = None) -> None:
        """Attach a file; the type is guessed from ``filename`` unless given."""
        self.attachments.append(Attachment(filename, *_content(filename, content, content_type)))

    def inline(self, filename: str, content: bytes, content_type: str | None = None) -> str:
        """Embed an image for the HTML part; returns its ``cid:`` URL for ``<img src>``.
        Templates also find it as ``{{ cid['logo.png'] }}``."""
        data, kind = _content(filename, content, content_type)
        if not kind.startswith("image/"):
            raise InvalidMessage(
                f"inline({filename!r}): {kind} is not an image; attach() other files"
            )
        cid = f"{secrets.token_hex(8)}.{_safe_id(filename)}@bastion"
        self.inline_images.append(Attachment(filename, data, kind, cid))
        return f"cid:{cid}"

    @property
    def cids(self) -> dict[str, str]:
        """The ``cid:`` URL of each inline image, by file name."""
        return {image.filename: f"cid:{image.cid}" for image in self.inline_images}


@dataclass(frozen=True)
class Envelope:
    """A rendered message and the addresses the transport gives the server (``MAIL FROM``
    and ``RCPT TO``): the sender and every recipient, Bcc included."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    smtputf8: bool = False

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"] or "")

    def to_bytes(self) -> bytes:
        """The message as stored for a queued send (UTF-8 headers kept as they are)."""
        return self.message.as_bytes(policy=STORAGE_POLICY)

    @classmethod
    def from_bytes(cls, data: bytes, sender: str, recipients: list[str]) -> Envelope:
        # As text, so UTF-8 headers read back as text (bytes would give surrogates).
        text = data.decode("utf-8", "surrogateescape")
        message = email.message_from_string(text, policy=email.policy.default)
        utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
        return cls(sender, tuple(recipients), message, utf8)


@dataclass(frozen=True)
class SentMail:
    """A message as a test (``mailer.outbox``) or a preview sees it."""

    envelope: Envelope

    @property
    def message(self) -> EmailMessage:
        return self.envelope.message

    @property
    def sender(self) -> str:
        """The envelope sender (``MAIL FROM``)."""
        return self.envelope.sender

    @property
    def recipients(self) -> list[str]:
        """Every address the message goes to, Bcc included."""
        return list(self.envelope.recipients)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def to(self) -> list[str]:
        return _header_addresses(self.message, "To")

    @property
    def cc(self) -> list[str]:
        return _header_addresses(self.message, "Cc")

    @property
    def bcc(self) -> list[str]:
        """Recipients named in no header: the blind copies."""
        shown = {a.lower() for a in _header_specs(self.message, ("To", "Cc"))}
        return [r for r in self.envelope.recipients if r.lower() not in shown]

    @property
    def reply_to(self) -> list[str]:
        return _header_addresses(self.message, "Reply-To")

    @property
    def text(self) -> str | None:
        return _body(self.message, "plain")

    @property
    def html(self) -> str | None:
        return _body(self.message, "html")

    @property
    def attachments(self) -> list[Attachment]:
        """Attached files (not the inline images)."""
        return [a for a in _files(self.message) if a.cid is None]

    @property
    def inline_images(self) -> list[Attachment]:
        return [a for a in _files(self.message) if a.cid is not None]

    def __getitem__(self, header: str) -> str | None:
        value = self.message[header]
        return None if value is None else str(value)


def check_header(name: str, value: str) -> None:
    """A custom header the message may carry; ``InvalidMessage`` saying why otherwise."""
    if not isinstance(name, str) or not _HEADER_NAME.match(name):
        raise InvalidMessage(f"headers: {name!r} is not a header name (printable ASCII, no ':')")
    own = _OWN_HEADERS.get(name.lower())
    if own is not None:
        raise InvalidMessage(f"headers: set {name} through the message's {own}, not headers=")
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        raise InvalidMessage(f"headers[{name!r}]: the value must be text without line breaks")


def cte_for(text: str) -> str | None:
    """Quoted-printable for non-ASCII text: safe on servers without 8BITMIME, and readable."""
    return None if text.isascii() else "quoted-printable"


def _content(filename: str, content: bytes | str, content_type: str | None) -> tuple[bytes, str]:
    if not isinstance(filename, str) or not filename or any(c in filename for c in "\r\n\0/\\"):
        raise InvalidMessage(f"attachment name {filename!r}: give a plain file name")
    data = content.encode() if isinstance(content, str) else content
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidMessage(f"attachment {filename!r}: the content must be bytes or text")
    kind = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if kind.count("/") != 1:
        raise InvalidMessage(f"attachment {filename!r}: {kind!r} is not a MIME type like image/png")
    return bytes(data), kind


def _safe_id(filename: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", filename)[:40] or "image"


def _header_addresses(message: EmailMessage, name: str) -> list[str]:
    header = message[name]
    if header is None:
        return []
    return [str(a) for a in getattr(header, "addresses", ())]


def _header_specs(message: EmailMessage, names: tuple[str, ...]) -> list[str]:
    specs: list[str] = []
    for name in names:
        header = message[name]
        if header is not None:
            specs.extend(a.addr_spec for a in getattr(header, "addresses", ()))
    return specs


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body((subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _files(message: EmailMessage) -> list[Attachment]:
    found = []
    for part in message.walk():
        if part.is_multipart() or not isinstance(part, EmailMessage):
            continue
        cid = part["Content-ID"]
        if part.get_content_disposition() != "attachment" and cid is None:
            continue
        data = part.get_payload(decode=True)
        found.append(
            Attachment(
                part.get_filename() or "",
                data if isinstance(data, bytes) else b"",
                part.get_content_type(),
                str(cid).strip("<>") if cid is not None else None,
            )
        )
    return found
