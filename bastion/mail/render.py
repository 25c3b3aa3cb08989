"""A ``Message`` (or a ready ``EmailMessage``) checked and written as an ``Envelope``.

Everything that can be wrong with a message is found here, before a transport is touched:
each address (``InvalidAddress`` naming ``to[1]``), the subject and custom headers (no line
breaks: header injection), a body, a sender. Templates render with autoescaping on, except
``.txt`` ones, whose text is not HTML.
"""

from __future__ import annotations

import copy
import email.policy
import email.utils
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from os import PathLike
from typing import Any

import jinja2

from bastion.exceptions import ConfigurationError
from bastion.mail.address import needs_smtputf8, parse, parse_many
from bastion.mail.errors import InvalidAddress, InvalidMessage
from bastion.mail.message import Envelope, Message, check_header, cte_for
from bastion.mail.text import html_to_text

TemplateSource = jinja2.Environment | str | PathLike[str] | Sequence[str | PathLike[str]] | Any


def autoescape(name: str | None) -> bool:
    """HTML-escape every template but ``.txt`` ones."""
    return name is None or not name.endswith(".txt")


def mail_environment(templates: TemplateSource | None) -> jinja2.Environment | None:
    """The Jinja environment mail templates render in: the app's ``Templates`` (or a
    ``jinja2.Environment``) with mail's escaping rule, or a loader on the folders given."""
    if templates is None:
        return None
    env = getattr(templates, "env", templates)  # bastion.templates.Templates
    if isinstance(env, jinja2.Environment):
        return env.overlay(autoescape=autoescape)
    if isinstance(templates, str | PathLike) or (
        isinstance(templates, Sequence) and all(isinstance(t, str | PathLike) for t in templates)
    ):
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates),
            autoescape=autoescape,
        )
    raise ConfigurationError(
        f"mail templates={templates!r}: give a folder ('templates'), several folders, a "
        "bastion.templates.Templates or a jinja2.Environment"
    )


def render(
    message: Message | EmailMessage, *, env: jinja2.Environment | None, sender: Address | None
) -> Envelope:
    """The envelope to send, or ``InvalidMessage``/``InvalidAddress`` saying what is wrong."""
    if isinstance(message, EmailMessage):
        return _envelope_of(message, sender)
    if not isinstance(message, Message):
        raise InvalidMessage(
            f"Mailer.send takes a bastion.mail.Message or an email.message.EmailMessage, "
            f"not {type(message).__name__}"
        )
    from_ = parse(message.sender, "sender") if message.sender is not None else sender
    if from_ is None:
        raise InvalidMessage(
            "the message has no sender: give Message(sender=...), or a default with "
            "MailPlugin(sender=...) or BASTION_MAIL_FROM"
        )
    to = parse_many(message.to, "to")
    cc = parse_many(message.cc, "cc")
    bcc = parse_many(message.bcc, "bcc")
    reply_to = parse_many(message.reply_to, "reply_to")
    if not (to or cc or bcc):
        raise InvalidMessage("the message has no recipient: give to=, cc= or bcc=")
    subject = message.subject
    if not isinstance(subject, str) or any(c in subject for c in "\r\n\0"):
        raise InvalidMessage("subject: must be text without line breaks")
    for name, value in message.headers.items():
        check_header(name, value)
    text, html = _bodies(message, env)
    if message.inline_images and html is None:
        raise InvalidMessage("inline images are shown by the HTML part: give html= or template=")

    mail = EmailMessage(policy=email.policy.default)
    mail["From"] = from_
    if to:
        mail["To"] = to
    if cc:
        mail["Cc"] = cc
    if reply_to:
        mail["Reply-To"] = reply_to
    mail["Subject"] = subject
    _stamp(mail, from_)
    for name, value in message.headers.items():
        del mail[name]  # Date and Message-ID may be given
        mail[name] = value
    mail.set_content(text, cte=cte_for(text))
    if html is not None:
        mail.add_alternative(html, subtype="html", cte=cte_for(html))
        if message.inline_images:
            html_part = mail.get_body(("html",))
            if html_part is None:  # pragma: no cover - add_alternative just made it
                raise InvalidMessage("the HTML part could not be built")
            for image in message.inline_images:
                maintype, subtype = image.content_type.split("/")
                html_part.add_related(
                    image.content,
                    maintype,
                    subtype,
                    cid=f"<{image.cid}>",
                    disposition="inline",
                    filename=image.filename,
                )
    for file in message.attachments:
        maintype, subtype = file.content_type.split("/")
        mail.add_attachment(file.content, maintype, subtype, filename=file.filename)  # exact bytes
    return _envelope(from_, [*to, *cc, *bcc], mail)


def _bodies(message: Message, env: jinja2.Environment | None) -> tuple[str, str | None]:
    text, html = message.text, message.html
    if message.template is not None:
        if text is not None or html is not None:
            raise InvalidMessage("give template= or text=/html=, not both")
        text, html = _render_template(message, env)
    if text is not None and not isinstance(text, str):
        raise InvalidMessage("text: must be a string")
    if html is not None and not isinstance(html, str):
        raise InvalidMessage("html: must be a string")
    if text is None:
        if html is None:
            raise InvalidMessage("the message has no body: give text=, html= or template=")
        text = html_to_text(html)
    return text, html


def _render_template(message: Message, env: jinja2.Environment | None) -> tuple[str, str | None]:
    name = message.template
    if env is None:
        raise ConfigurationError(
            f"Message(template={name!r}) needs templates: MailPlugin(templates='templates') "
            "or Mailer(templates=...)"
        )
    context = {**message.context, "cid": message.cids}
    found: dict[str, str] = {}
    for kind in ("html", "txt"):
        try:
            template = env.get_template(f"{name}.{kind}")
        except jinja2.TemplateNotFound:
            continue
        found[kind] = template.render(context)
    if not found:
        raise InvalidMessage(
            f"template {name!r}: neither {name}.html nor {name}.txt was found by the mail "
            "templates' loader"
        )
    html = found.get("html")
    return found.get("txt") or html_to_text(html or ""), html


def _envelope_of(original: EmailMessage, sender: Address | None) -> Envelope:
    """An ``EmailMessage`` written by hand: its headers checked, Bcc moved to the envelope."""
    mail = copy.deepcopy(original)
    senders = _addresses(mail, "From")
    if not senders:
        if sender is None:
            raise InvalidMessage(
                "the message has no From header and the mailer no default sender: set "
                "MailPlugin(sender=...) or BASTION_MAIL_FROM"
            )
        mail["From"] = sender
        senders = [sender]
    recipients = [*_addresses(mail, "To"), *_addresses(mail, "Cc"), *_addresses(mail, "Bcc")]
    if not recipients:
        raise InvalidMessage("the message has no recipient: set To, Cc or Bcc")
    del mail["Bcc"]
    _addresses(mail, "Reply-To")
    subject = mail["Subject"]
    if subject is not None and any(c in str(subject) for c in "\r\n"):
        raise InvalidMessage("Subject: must be text without line breaks")
    if mail["Date"] is None or mail["Message-ID"] is None:
        _stamp(mail, senders[0])
    return _envelope(senders[0], recipients, mail)


def _addresses(mail: EmailMessage, name: str) -> list[Address]:
    header = mail[name]
    if header is None:
        return []
    defects = getattr(header, "defects", ())
    found = list(getattr(header, "addresses", ()))
    if defects or (str(header).strip() and not found):
        raise InvalidAddress(name, str(header), "is not a list of e-mail addresses")
    return [parse(address, f"{name}[{i}]") for i, address in enumerate(found)]


def _stamp(mail: EmailMessage, sender: Address) -> None:
    if mail["Date"] is None:
        mail["Date"] = email.utils.format_datetime(datetime.now(UTC))
    if mail["Message-ID"] is None:
        mail["Message-ID"] = email.utils.make_msgid(domain=sender.domain)


def _envelope(sender: Address, recipients: list[Address], mail: EmailMessage) -> Envelope:
    seen: dict[str, None] = {}
    for address in recipients:
        seen.setdefault(address.addr_spec, None)
    utf8 = needs_smtputf8(sender) or any(needs_smtputf8(a) for a in recipients)
    return Envelope(sender.addr_spec, tuple(seen), mail, utf8)
