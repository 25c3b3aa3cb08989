"""AuthRoutes mails reset links when the app has MailPlugin (after the response, as before)."""

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bastion.auth import PasswordHasher, SessionAuth, SessionPlugin
from bastion.auth.models import load_user
from bastion.auth.plugin import AuthPlugin
from bastion.auth.routes import AuthRoutes, ResetLink
from bastion.mail import MailPlugin
from bastion.testing import TestClient
from tests.auth.conftest import app_with_database


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # cheap: not the subject


ACCOUNT = {"email": "ada@example.com", "username": "ada", "password": "a long enough password"}


def make_app(tmp_path: Path, hasher: PasswordHasher, mail: MailPlugin, **options: Any) -> Any:
    url = f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
    routes = AuthRoutes(hasher=hasher, **options)
    auth = AuthPlugin(SessionAuth(), load_user=load_user)
    app, _ = app_with_database(url, lambda db: [SessionPlugin(), auth, mail, routes])
    return app


@contextmanager
def reset_asked(app: Any, email: str = "ada@example.com") -> Iterator[tuple[int, TestClient]]:
    """Sign ada up (register signs nobody in), ask for a reset for ``email``: the answer's
    status and the client. The with-block closes the client even when an assertion fails: a
    client left open is finalized by the garbage collector wherever it runs next, and on
    CPython 3.11 a finalizer's traceback inside the assertion rewriter's ast.parse fails the
    run with "SystemError: AST constructor recursion depth mismatch"."""
    with TestClient(app, base_url="https://testserver") as client:
        assert client.post("/auth/register", json=ACCOUNT).status_code == 202
        yield client.post("/auth/password-reset", json={"email": email}).status_code, client


def test_the_reset_link_is_mailed_when_the_app_has_mail(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    mail = MailPlugin(sender="Accounts <accounts@example.com>")
    with reset_asked(make_app(tmp_path, hasher, mail)) as (status, client):
        assert status == 202
        [sent] = mail.mailer.outbox
        assert sent.to == ["ada@example.com"] and sent.subject == "Reset your password"
        assert str(sent["From"]) == "Accounts <accounts@example.com>"
        found = re.search(r"\((https://testserver/auth/password-reset/confirm\?token=(\S+))\)",
                          sent.text or "")  # fmt: skip
        assert found is not None
        assert f'href="{found.group(1)}"' in (sent.html or "")
        reset = {"token": found.group(2), "password": "a brand new passphrase"}
        assert client.post("/auth/password-reset/confirm", json=reset).status_code == 204


def test_unknown_accounts_get_the_same_answer_and_no_mail(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    mail = MailPlugin(sender="accounts@example.com")
    with reset_asked(make_app(tmp_path, hasher, mail), "nobody@example.com") as (status, _):
        pass  # leaving the block waits for the tasks that run after the answer
    assert status == 202 and mail.mailer.outbox == []


def test_an_explicit_delivery_still_wins(tmp_path: Path, hasher: PasswordHasher) -> None:
    mail = MailPlugin(sender="accounts@example.com")
    links: list[ResetLink] = []
    app = make_app(tmp_path, hasher, mail, send_reset_link=links.append)
    with reset_asked(app) as (status, _):
        pass
    assert status == 202 and len(links) == 1 and mail.mailer.outbox == []


def test_a_mail_server_that_is_down_does_not_change_the_answer(
    tmp_path: Path, hasher: PasswordHasher, caplog: pytest.LogCaptureFixture
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    mail = MailPlugin(f"smtp://127.0.0.1:{port}?timeout=2", sender="accounts@example.com")
    with caplog.at_level(logging.ERROR):
        with reset_asked(make_app(tmp_path, hasher, mail)) as (status, _):
            pass
    assert status == 202  # the delivery runs after the answer: its failure is only logged
    assert any("DeliveryError" in (r.exc_text or "") for r in caplog.records)
