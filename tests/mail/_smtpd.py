"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, in a thread with its own event
loop, on a port the OS picks (no race for a free port). It records what it received, the
connections it accepted, whether each message came over TLS and who had logged in."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USERS = {"ada": "correct horse"}


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (the openssl CLI: the
    ``cryptography`` package is not installed here)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]
    tls: bool
    login: str | None
    mechanism: str | None

    def message(self) -> EmailMessage:
        text = self.data.decode("utf-8", "surrogateescape")  # SMTPUTF8 headers are UTF-8
        parsed = email.message_from_string(text, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps every message; ``refuse`` maps an address to the reply
    its RCPT gets; the next ``greylist`` RCPTs get a 451; ``stall`` seconds are slept
    before answering DATA."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    greylist: int = 0
    mechanisms: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:  # noqa: E501
        if address in self.refuse:
            return self.refuse[address]
        if self.greylist > 0:
            self.greylist -= 1
            return "451 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall:
            await asyncio.sleep(self.stall)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content,
                list(envelope.mail_options),
                server.transport.get_extra_info("sslcontext") is not None,
                login,
                self.mechanisms[-1] if self.mechanisms else None,
            )
        )
        return "250 Message accepted"


class SMTPServer:
    """``SMTPServer(tls=ctx, auth=True).start()``; ``port``, ``received``, ``connections``."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        auth: bool = False,
        users: dict[str, str] | None = None,
        timeout: float = 300,
        smtputf8: bool = True,
        exclude_mechanisms: list[str] | None = None,
        require_tls_for_auth: bool = True,
    ) -> None:
        self.handler = Recorder()
        self.users = USERS if users is None else users
        self.implicit_tls = tls if implicit_tls else None
        self.connections = 0
        self.protocols: list[SMTP] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        options: dict[str, Any] = {
            "hostname": "mail.test",
            "timeout": timeout,
            "enable_SMTPUTF8": smtputf8,
            "auth_require_tls": require_tls_for_auth,
        }
        if tls is not None and not implicit_tls:
            options.update(tls_context=tls, require_starttls=True)
        if auth:
            options.update(
                auth_required=True,
                authenticator=self._authenticate,
                auth_exclude_mechanism=exclude_mechanisms,
            )
        self.options = options

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:  # noqa: E501
        self.handler.mechanisms.append(mechanism)
        ok = isinstance(data, LoginPassword) and self.users.get(data.login.decode()) == (
            data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _protocol(self) -> SMTP:
        self.connections += 1
        protocol = SMTP(self.handler, loop=self.loop, **self.options)
        self.protocols.append(protocol)
        return protocol

    def start(self) -> SMTPServer:
        self.thread.start()
        create: Callable[[], Any] = lambda: self.loop.create_server(  # noqa: E731
            self._protocol, "127.0.0.1", 0, ssl=self.implicit_tls
        )
        future = asyncio.run_coroutine_threadsafe(create(), self.loop)
        self.server = future.result(timeout=10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def drop_connections(self) -> None:
        """Close every open connection from the server's side, as a restarted server would."""
        asyncio.run_coroutine_threadsafe(self._drop(), self.loop).result(timeout=10)

    async def _drop(self) -> None:
        for protocol in self.protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        await asyncio.sleep(0.05)

    async def _close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self._drop()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
