import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mail._smtpd import SMTPServer, make_certificate, server_context


@pytest.fixture(scope="session")
def certificate() -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1, made once per session."""
    with tempfile.TemporaryDirectory(prefix="bastion-mail-") as folder:
        yield make_certificate(Path(folder))


@pytest.fixture(scope="session")
def tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return server_context(*certificate)


@pytest.fixture
def cafile(certificate: tuple[Path, Path]) -> str:
    return str(certificate[0])


@pytest.fixture
def smtp_server(tls: ssl.SSLContext) -> Callable[..., SMTPServer]:
    """Start SMTP servers (STARTTLS and AUTH required unless told otherwise); each is
    stopped when the test ends."""
    started: list[SMTPServer] = []

    def start(**options: Any) -> SMTPServer:
        options.setdefault("tls", tls)
        options.setdefault("auth", True)
        server = SMTPServer(**options).start()
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()


@pytest.fixture
def server(smtp_server: Callable[..., SMTPServer]) -> SMTPServer:
    """One server requiring STARTTLS and AUTH (PLAIN or LOGIN) from user ada."""
    return smtp_server()
