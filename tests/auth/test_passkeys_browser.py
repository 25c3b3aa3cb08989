"""Passkeys in headless Chromium: an account is registered and signs in with its password,
adds a passkey on the passkeys page, logs out and signs in with the passkey alone, through Chromium's virtual
authenticator (CDP ``WebAuthn``: CTAP2, internal transport, resident keys, user
verification). The app is served by a real uvicorn on http://localhost:<port> (WebAuthn
needs a secure context; localhost is one), with CSRF and the strict CSP on."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests._processes import accepts, free_port, missing, running
from tests.auth.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"


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


@contextmanager
def served(tmp_path: Path) -> Iterator[str]:
    """tests/auth/passkeys_live_app.py on a free port; its origin is http://localhost:<port>."""
    port = free_port()
    origin = f"http://localhost:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BASTION_PROFILE": "test",
        "BASTION_SECRET_KEY": SECRET,
        "BASTION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'passkeys.db'}",
        "BASTION_WEBAUTHN_RP_ID": "localhost",
        "BASTION_WEBAUTHN_ORIGINS": origin,
        "BASTION_ALLOWED_HOSTS": "localhost",
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests.auth.passkeys_live_app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with running(command, ready=lambda: accepts(port), what="uvicorn (passkeys app)",
                 cwd=tmp_path, env=env):  # fmt: skip
        yield origin


def post_json(page, path: str, body: dict | None = None) -> dict:
    """A fetch from the page, with the CSRF token the page carries (as an app's own script
    would send it)."""
    return page.evaluate(
        """async ([path, body]) => {
            const csrf = document.getElementById("passkeys").dataset.csrf;
            const response = await fetch(path, {
                method: "POST",
                headers: {"content-type": "application/json", "x-csrf-token": csrf},
                body: JSON.stringify(body || {}),
            });
            return {status: response.status, body: await response.text()};
        }""",
        [path, body],
    )


def test_register_add_a_passkey_and_sign_in_with_it(chromium, tmp_path: Path) -> None:
    with served(tmp_path) as origin:
        context = chromium.new_context()
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        authenticator = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "response",
            lambda r: r.status >= 400 and "favicon" not in r.url and errors.append(r.url),
        )

        # An account, registered from the page (with its CSRF token): register signs nobody
        # in, so the new user signs in with the password next.
        page.goto(f"{origin}/passkeys")
        page.wait_for_selector("#passkey-sign-in")
        account = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        assert post_json(page, "/auth/register", account)["status"] == 202
        page.reload()
        page.wait_for_selector("#passkey-sign-in")  # still a visitor
        login = {"email": "ada@example.com", "password": PASSWORD}
        assert post_json(page, "/auth/login", login)["status"] == 200

        # Signed in: add a passkey on the page.
        page.reload()
        page.wait_for_selector("#passkey-add")
        page.fill("#passkey-name", "Chromium")
        page.click("#passkey-add button[type=submit]")
        page.wait_for_selector("#passkey-status:has-text('Passkey added.')")
        page.wait_for_selector("#passkey-list li:has-text('Chromium')")
        stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(stored["credentials"]) == 1
        assert stored["credentials"][0]["isResidentCredential"] is True
        assert stored["credentials"][0]["rpId"] == "localhost"

        # Logged out, then in again with the passkey alone: no e-mail, no password.
        assert post_json(page, "/auth/logout")["status"] == 204
        page.reload()
        page.wait_for_selector("#passkey-sign-in")
        page.click("#passkey-sign-in")
        page.wait_for_selector("#passkey-status:has-text('Signed in as ada@example.com.')")
        page.reload()
        page.wait_for_selector("#passkey-user:has-text('ada@example.com')")
        page.wait_for_selector("#passkey-list li:has-text('Chromium')")
        after = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert after["credentials"][0]["signCount"] >= 1

        # The same passkey again for a second sign-in (its counter moved on).
        assert post_json(page, "/auth/logout")["status"] == 204
        page.reload()
        page.click("#passkey-sign-in")
        page.wait_for_selector("#passkey-status:has-text('Signed in as ada@example.com.')")
        assert errors == []
        context.close()
