"""Sign-up to two-factor sign-in in headless Chromium, against a real SMTP server: register,
follow the mailed verification link, enrol TOTP from the page, sign out, sign in with the
password and a code, then with a recovery code."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from bastion import App
from bastion.auth import AuthPlugin, PasswordHasher, SessionAuth, SessionPlugin
from bastion.auth.models import load_user
from bastion.auth.pages import AccountPages
from bastion.auth.routes import AuthRoutes
from bastion.auth.two_factor_routes import TwoFactorRoutes
from bastion.auth.verification import VerificationRoutes
from bastion.mail import MailPlugin
from bastion.security import SecurityPlugin
from tests._processes import free_port, missing
from tests.auth.conftest import app_with_database
from tests.mail._smtpd import SMTPServer

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("The playwright package is not installed (pip install playwright)")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def mail_server() -> Iterator[SMTPServer]:
    server = SMTPServer().start()  # plain SMTP on 127.0.0.1, no login
    yield server
    server.stop()


def accounts_app(database: Path, smtp_port: int) -> App:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{database}",
        lambda db: [
            SessionPlugin(),
            SecurityPlugin(),
            MailPlugin(f"smtp://127.0.0.1:{smtp_port}?starttls=0", sender="accounts@example.com"),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher),
            VerificationRoutes(),
            TwoFactorRoutes(issuer="Bastion tests"),
            AccountPages(),
        ],
    )
    return app


@pytest.fixture
def served(tmp_path: Path, mail_server: SMTPServer) -> Iterator[str]:
    """The app on uvicorn in a thread of this process, on a free port."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        accounts_app(tmp_path / "accounts.db", mail_server.port),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def wait_for_mail(server: SMTPServer, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(server.received) < count:
        assert time.monotonic() < deadline, "the verification mail never arrived"
        time.sleep(0.05)


def fresh_code(secret: str) -> str:
    """A code of a step no earlier code used: the next time step's (one step of drift is
    accepted); the current step's, used to confirm, would be refused as a replay."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def sign_in(page, url: str) -> None:
    page.goto(url + "/account/login")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button")
    page.wait_for_url(url + "/account/two-factor")


def test_register_verify_enrol_and_sign_in_with_code_then_recovery_code(
    chromium, served: str, mail_server: SMTPServer
) -> None:
    url = served
    page = chromium.new_context().new_page()

    page.goto(url + "/account/register")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("#register button")
    assert "Check your inbox" in page.text_content("#pending")  # not signed in yet

    wait_for_mail(mail_server, 1)
    mail = mail_server.received[0].message()
    assert mail_server.received[0].rcpt_tos == ["ada@example.com"]
    assert mail["Subject"] == "Confirm your e-mail address"
    html = mail.get_body(("html",)).get_content()
    link = re.search(r'href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert link.startswith(url + "/account/verify-email?token=")
    page.goto(link)
    page.click("#verify button")
    assert "confirmed" in page.text_content("#verified")
    page.goto(url + "/account/login")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button")
    page.wait_for_url(url + "/account")
    assert page.text_content("#verified") == "Your e-mail address is verified."

    page.click("#enrol")
    page.fill("input[name=password]", PASSWORD)
    page.click("#start button")
    assert page.locator("#qr svg").count() == 1  # the QR code, inline
    secret = page.text_content("#secret").strip()
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("#confirm button")
    codes = page.locator("#codes code").all_text_contents()
    assert len(codes) == 10 and len(set(codes)) == 10

    page.goto(url + "/account")
    assert "is on (10 recovery codes left)" in page.text_content("#two-factor")
    page.click("#logout button")
    page.wait_for_url(url + "/account/login")
    page.goto(url + "/account")
    page.wait_for_url(url + "/account/login")  # signed out

    # Password, then a code; the password alone signs nobody in.
    sign_in(page, url)
    page.goto(url + "/account")
    page.wait_for_url(url + "/account/login")
    sign_in(page, url)
    page.fill("input[name=code]", "000000")
    page.click("#challenge button")
    assert "wrong" in page.text_content("#error")
    page.fill("input[name=code]", fresh_code(secret))
    page.click("#challenge button")
    page.wait_for_url(url + "/account")
    assert page.text_content("#email") == "ada@example.com"
    page.click("#logout button")
    page.wait_for_url(url + "/account/login")

    # A recovery code instead, which then stops working.
    sign_in(page, url)
    page.click("summary")
    page.fill("input[name=recovery_code]", codes[3])
    page.click("#challenge button")
    page.wait_for_url(url + "/account")
    assert "9 recovery codes left" in page.text_content("#two-factor")
    page.click("#logout button")
    page.wait_for_url(url + "/account/login")
    sign_in(page, url)
    page.click("summary")
    page.fill("input[name=recovery_code]", codes[3])
    page.click("#challenge button")
    assert "wrong, expired or already used" in page.text_content("#error")
