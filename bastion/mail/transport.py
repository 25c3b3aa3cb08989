"""Transports: where a rendered message goes. One protocol, chosen by a URL.

    smtp://user:password@smtp.example.com:587?starttls=1    STARTTLS (required), then login
    smtps://user:password@smtp.example.com                  TLS from the first byte (port 465)
    smtp://127.0.0.1:1025?starttls=0                        no TLS (a local catcher)
    console://                                              printed, for development
    memory://                                               kept in ``mailer.outbox``, for tests

SMTP options in the query string: ``timeout`` (seconds per step, default 10), ``pool``
(connections kept open, default 2), ``idle`` (seconds an unused connection is kept, 30),
``verify=0`` (skip certificate checks), ``cafile`` (a CA bundle, for a private CA) and
``local_hostname`` (the EHLO name). A user name or password in the URL is percent-decoded.
"""

from __future__ import annotations

import copy
import sys
from email.contentmanager import raw_data_manager
from email.message import EmailMessage
from typing import IO, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote, urlsplit

from bastion.exceptions import ConfigurationError
from bastion.mail.message import STORAGE_POLICY, Envelope, SentMail


@runtime_checkable
class Transport(Protocol):
    """Hands envelopes to something that delivers them."""

    async def send(self, envelope: Envelope) -> None: ...

    async def close(self) -> None:
        """Release connections (the app's shutdown calls it)."""
        ...


class MemoryTransport:
    """Keeps every message in ``outbox`` (oldest first): the transport for tests."""

    def __init__(self) -> None:
        self.outbox: list[SentMail] = []

    def __repr__(self) -> str:
        return f"<MemoryTransport {len(self.outbox)} message(s)>"

    async def send(self, envelope: Envelope) -> None:
        self.outbox.append(SentMail(envelope))

    async def close(self) -> None:
        return None


class ConsoleTransport:
    """Writes each message, headers and all, to ``stream`` (standard output by default):
    read the mail a development server sends in its terminal. Text parts are shown decoded
    (8bit), not in the quoted-printable an SMTP server gets, so a link can be copied whole."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def __repr__(self) -> str:
        return "<ConsoleTransport>"

    async def send(self, envelope: Envelope) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        text = readable(envelope.message)
        rule = "-" * 72
        stream.write(
            f"{rule}\nMail from {envelope.sender} to {', '.join(envelope.recipients)}\n"
            f"{rule}\n{text}\n{rule}\n"
        )
        stream.flush()

    async def close(self) -> None:
        return None


def readable(message: EmailMessage) -> str:
    """The message as a person reads it in a terminal: its text parts decoded, since
    quoted-printable cuts long lines (a link) with ``=`` and writes ``=`` as ``=3D``.
    Attachments stay base64; a message the email package cannot re-encode is shown as is."""
    shown = copy.deepcopy(message)
    try:
        for part in shown.walk():
            if part.get_content_maintype() == "text" and not part.is_attachment():
                content = part.get_content()
                raw_data_manager.set_content(
                    part, content, subtype=part.get_content_subtype(), cte="8bit"
                )
        return shown.as_bytes(policy=STORAGE_POLICY).decode("utf-8", "replace")
    except (LookupError, ValueError, TypeError):
        return message.as_string(policy=STORAGE_POLICY)


def transport_from_url(url: str) -> Transport:
    """The transport a mail URL names; a ``ConfigurationError`` saying what to write."""
    if not isinstance(url, str):
        raise ConfigurationError(f"mail URL {url!r}: give a string such as 'smtp://host:587'")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return MemoryTransport()
    if scheme == "console":
        return ConsoleTransport()
    if scheme in ("smtp", "smtps"):
        return _smtp(parts.geturl())
    raise ConfigurationError(
        f"mail URL {hide_password(url)!r}: the scheme must be smtp://, smtps://, console:// or "
        "memory://, e.g. smtp://user:password@smtp.example.com:587?starttls=1"
    )


def hide_password(url: str) -> str:
    """``smtp://ada:secret@host`` → ``smtp://ada:***@host``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


_FLAGS = {"1": True, "true": True, "yes": True, "on": True}
_FLAGS.update({"0": False, "false": False, "no": False, "off": False})


def _smtp(url: str) -> Transport:
    from bastion.mail.smtp import SMTPTransport

    parts = urlsplit(url)
    shown = hide_password(url)
    implicit = parts.scheme.lower() == "smtps"
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    known = {"starttls", "timeout", "pool", "idle", "verify", "cafile", "local_hostname"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"mail URL {shown!r}: unknown option(s) {', '.join(unknown)}; the options are "
            f"{', '.join(sorted(known))}"
        )

    def flag(name: str) -> bool | None:
        if name not in options:
            return None
        value = _FLAGS.get(options[name].strip().lower())
        if value is None:
            raise ConfigurationError(f"mail URL {shown!r}: {name}= takes 1 or 0")
        return value

    def number(name: str, default: float, *, whole: bool = False) -> float:
        if name not in options:
            return default
        try:
            value = int(options[name]) if whole else float(options[name])
        except ValueError:
            value = -1
        if not value > 0:
            kind = "a whole number" if whole else "a number of seconds"
            raise ConfigurationError(f"mail URL {shown!r}: {name}= takes {kind} above 0")
        return value

    starttls = flag("starttls")
    if implicit and starttls:
        raise ConfigurationError(
            f"mail URL {shown!r}: smtps:// is TLS from the start; STARTTLS is for smtp:// "
            "(drop starttls=1, or write smtp://...?starttls=1)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"mail URL {shown!r}: the port must be a number") from None
    if not parts.hostname:
        raise ConfigurationError(f"mail URL {shown!r}: name the server, smtp://host:587")
    verify = flag("verify")
    return SMTPTransport(
        parts.hostname,
        port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit,
        starttls=starttls,
        timeout=number("timeout", 10.0),
        pool_size=int(number("pool", 2, whole=True)),
        idle_timeout=number("idle", 30.0),
        verify=True if verify is None else verify,
        cafile=options.get("cafile") or None,
        local_hostname=options.get("local_hostname") or None,
    )
