"""AuthRoutes mails reset links when the app has MailPlugin (after the response, as before)."""

import logging
import re
import socket
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


def ask_for_a_reset(app: Any, email: str = "ada@example.com") -> tuple[int, TestClient]:
    client = TestClient(app, base_url="https://testserver")
    client.__enter__()
    assert client.post("/auth/register", json=ACCOUNT).status_code == 201
    client.post("/auth/logout")
    return client.post("/auth/password-reset", json={"email": email}).status_code, client


def test_the_reset_link_is_mailed_when_the_app_has_mail(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    mail = MailPlugin(sender="Accounts <accounts@example.com>")
    status, client = ask_for_a_reset(make_app(tmp_path, hasher, mail))
    try:
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
    finally:
        client.__exit__(None, None, None)


def test_unknown_accounts_get_the_same_answer_and_no_mail(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    mail = MailPlugin(sender="accounts@example.com")
    status, client = ask_for_a_reset(make_app(tmp_path, hasher, mail), "nobody@example.com")
    client.__exit__(None, None, None)
    assert status == 202 and mail.mailer.outbox == []


def test_an_explicit_delivery_still_wins(tmp_path: Path, hasher: PasswordHasher) -> None:
    mail = MailPlugin(sender="accounts@example.com")
    links: list[ResetLink] = []
    status, client = ask_for_a_reset(make_app(tmp_path, hasher, mail, send_reset_link=links.append))
    client.__exit__(None, None, None)
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
        status, client = ask_for_a_reset(make_app(tmp_path, hasher, mail))
        client.__exit__(None, None, None)
    assert status == 202  # the delivery runs after the answer: its failure is only logged
    assert any("DeliveryError" in (r.exc_text or "") for r in caplog.records)
