"""``SMTPTransport``: aiosmtplib with TLS, login, timeouts and a small connection pool.

Connections are opened on first use and kept (``pool_size`` of them at most, each for up to
``idle_timeout`` seconds unused), so a burst of mail pays for one TCP, TLS and AUTH handshake
per connection, not per message. A kept connection the server has closed is noticed and
replaced; one unused for more than ``ping_after`` seconds is checked with ``NOOP`` first
(Symfony's mailer does the same), so a message is never written into a dead connection.

Every failure becomes a ``DeliveryError`` that names the server and what to check; a
password is never sent over a connection that is not encrypted unless ``starttls=False``
says the network is trusted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from typing import Any

import aiosmtplib

from bastion.exceptions import ConfigurationError
from bastion.mail.errors import DeliveryError, MailAuthenticationError
from bastion.mail.message import Envelope

logger = logging.getLogger("bastion.mail")
_DISCONNECTS = (ConnectionError,)  # aiosmtplib's SMTPServerDisconnected among them


class SMTPTransport:
    """Delivers to an SMTP server. ``implicit_tls``: TLS from the first byte (port 465);
    else ``starttls``: True requires STARTTLS, False never uses it, None uses it when the
    server offers it. ``timeout`` bounds each step (connecting, each command)."""

    def __init__(
        self,
        host: str = "localhost",
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        implicit_tls: bool = False,
        starttls: bool | None = None,
        timeout: float = 10.0,
        pool_size: int = 2,
        idle_timeout: float = 30.0,
        ping_after: float = 5.0,
        verify: bool = True,
        cafile: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if implicit_tls and starttls:
            raise ConfigurationError(
                "SMTPTransport: implicit_tls=True is TLS from the start; drop starttls=True"
            )
        if pool_size < 1 or timeout <= 0 or idle_timeout < 0:
            raise ConfigurationError(
                "SMTPTransport: pool_size must be at least 1, timeout above 0 seconds and "
                "idle_timeout 0 or more"
            )
        self.host = host
        self.port = port or (465 if implicit_tls else 587 if starttls else 25)
        self.username = username
        self.password = password
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.timeout = timeout
        self.pool_size = pool_size
        self.idle_timeout = idle_timeout
        self.ping_after = ping_after
        self.verify = verify
        self.cafile = cafile
        self.tls_context = tls_context
        self.local_hostname = local_hostname
        #: How many connections were opened (for logs and tests).
        self.connections_opened = 0
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"<SMTPTransport {scheme}://{user}{self.host}:{self.port}>"

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    # -- sending ---------------------------------------------------------------------------
    async def send(self, envelope: Envelope) -> None:
        slots = self._pool()
        async with slots:
            smtp, reused = await self._checkout()
            try:
                refused = await self._transact(smtp, envelope)
            except _DISCONNECTS as exc:
                if not reused:
                    raise self._error(exc, envelope) from exc
                # A kept connection the server closed just now: send on a new one.
                smtp = await self._connect()
                try:
                    refused = await self._transact(smtp, envelope)
                except _DISCONNECTS as again:
                    raise self._error(again, envelope) from again
        if refused:
            shown = "; ".join(f"{r} ({c.code} {c.message})" for r, c in refused.items())
            logger.warning(
                "%s refused some recipients of %s: %s", self.server, envelope.message_id, shown
            )

    async def _transact(self, smtp: aiosmtplib.SMTP, envelope: Envelope) -> dict[str, Any]:
        """One mail transaction; the connection goes back to the pool if it is still good.
        A dropped connection is re-raised as it is (``send`` may retry it)."""
        try:
            refused, _ = await smtp.send_message(
                envelope.message, sender=envelope.sender, recipients=list(envelope.recipients)
            )
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
            self._checkin(smtp)  # the server answered: the connection is still good
            raise self._error(exc, envelope) from exc
        except BaseException as exc:
            smtp.close()
            if isinstance(exc, _DISCONNECTS):
                raise
            if isinstance(exc, aiosmtplib.SMTPException | OSError):
                raise self._error(exc, envelope) from exc
            raise
        self._checkin(smtp)
        return refused

    async def close(self) -> None:
        """Say QUIT on every kept connection of this event loop."""
        idle, self._idle = self._idle, []
        if self._loop is not asyncio.get_running_loop():
            return  # connections of a finished loop cannot be spoken to
        for smtp, _ in idle:
            try:
                await smtp.quit(timeout=min(self.timeout, 2.0))
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()

    # -- the pool --------------------------------------------------------------------------
    def _pool(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            self._loop = loop  # a new loop (a test, a worker): the old connections are gone
            self._idle = []
            self._slots = asyncio.Semaphore(self.pool_size)
        return self._slots

    async def _checkout(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A kept connection (True) if one is alive, else a new one (False)."""
        now = time.monotonic()
        while self._idle:
            smtp, last_used = self._idle.pop()
            if not smtp.is_connected or now - last_used > self.idle_timeout:
                smtp.close()
                continue
            if now - last_used > self.ping_after:
                try:
                    await smtp.noop()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    smtp.close()
                    continue
            return smtp, True
        return await self._connect(), False

    def _checkin(self, smtp: aiosmtplib.SMTP) -> None:
        if smtp.is_connected and self.idle_timeout > 0:
            self._idle.append((smtp, time.monotonic()))
        else:
            smtp.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.implicit_tls,
            start_tls=False if self.implicit_tls else self.starttls,
            validate_certs=self.verify,
            cert_bundle=self.cafile,
            tls_context=self.tls_context,
            local_hostname=self.local_hostname or await _local_hostname(),
        )
        try:
            await smtp.connect()
            self.connections_opened += 1
            if self.username is not None:
                if not self._encrypted(smtp) and self.starttls is not False:
                    raise DeliveryError(
                        f"{self.server} did not offer STARTTLS, so the password for "
                        f"{self.username!r} was not sent in clear text: use smtps://, or add "
                        "starttls=0 to the mail URL if the network is trusted",
                        temporary=False,
                    )
                await smtp.login(self.username, self.password or "")
        except BaseException as exc:
            smtp.close()
            if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
                raise self._error(exc, None) from exc
            raise
        return smtp

    @staticmethod
    def _encrypted(smtp: aiosmtplib.SMTP) -> bool:
        return smtp.get_transport_info("sslcontext") is not None

    # -- errors ----------------------------------------------------------------------------
    def _error(self, exc: BaseException, envelope: Envelope | None) -> DeliveryError:
        server = self.server
        if isinstance(exc, DeliveryError):
            return exc
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return MailAuthenticationError(
                f"{server} refused the login of {self.username!r} ({exc.code} {exc.message}): "
                "check the user name and password in the mail URL (BASTION_MAIL_URL)",
                code=exc.code,
                temporary=False,
            )
        if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
            return DeliveryError(
                f"{server} did not answer within {self.timeout:g} s ({type(exc).__name__}); "
                "check the host and port, or raise timeout= in the mail URL"
            )
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            shown = "; ".join(f"{r.recipient} ({r.code} {r.message})" for r in exc.recipients)
            code = exc.recipients[0].code if exc.recipients else None
            return DeliveryError(
                f"{server} refused every recipient: {shown}",
                code=code,
                temporary=code is not None and 400 <= code < 500,
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            what = {
                aiosmtplib.SMTPSenderRefused: "refused the sender",
                aiosmtplib.SMTPDataError: "refused the message",
                aiosmtplib.SMTPHeloError: "refused the greeting",
            }.get(type(exc), "answered with an error")
            return DeliveryError(
                f"{server} {what}: {exc.code} {exc.message}",
                code=exc.code,
                temporary=400 <= exc.code < 500,
            )
        if isinstance(exc, aiosmtplib.SMTPNotSupported):
            hint = (
                " (an address has a non-ASCII local part, which needs SMTPUTF8)"
                if envelope is not None and envelope.smtputf8
                else ""
            )
            return DeliveryError(f"{server}: {exc}{hint}", temporary=False)
        if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
            return DeliveryError(
                f"TLS with {server} failed ({exc}): for a private or self-signed certificate "
                "give cafile= (or verify=0 for a test server) in the mail URL",
                temporary=False,
            )
        if isinstance(exc, OSError | aiosmtplib.SMTPException):
            return DeliveryError(f"could not talk to {server}: {exc}")
        return DeliveryError(f"{server}: {type(exc).__name__}: {exc}")


_hostname: str | None = None


async def _local_hostname() -> str:
    """The EHLO name: the machine's FQDN, looked up once per process (it may ask DNS)."""
    global _hostname
    if _hostname is None:
        name = await asyncio.to_thread(socket.getfqdn)
        _hostname = name if name and name.isascii() else "localhost"
    return _hostname
