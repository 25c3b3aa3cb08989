"""AccountPages: the sign-up page answers a taken address as a new one and signs nobody in,
with e-mail verification or without; the password page changes the password and keeps this
session signed in."""

import re
from pathlib import Path

import pytest

from bastion.auth import AuthPlugin, PasswordHasher, SessionAuth, SessionPlugin
from bastion.auth.models import load_user
from bastion.auth.pages import AccountPages
from bastion.auth.routes import AuthRoutes
from bastion.auth.verification import VerificationLink, VerificationRoutes
from bastion.security import SecurityPlugin
from bastion.testing import TestClient
from tests.auth.conftest import app_with_database

PASSWORD = "a long enough password"


def make_client(tmp_path: Path, hasher: PasswordHasher, verification: bool):
    sent: list[VerificationLink] = []
    extra = [VerificationRoutes(send=sent.append)] if verification else []
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/pages.db",
        lambda db: [
            SessionPlugin(),
            SecurityPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher),
            *extra,
            AccountPages(),
        ],
    )
    return TestClient(app, base_url="https://testserver"), sent


def post_form(client: TestClient, path: str, **fields: str):
    form = client.get(path).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


@pytest.mark.parametrize(
    ("verification", "words"), [(True, "Check your inbox"), (False, "sign in with your e-mail")]
)
def test_the_sign_up_page_answers_a_taken_address_as_a_new_one(
    tmp_path: Path, hasher: PasswordHasher, verification: bool, words: str
) -> None:
    client, sent = make_client(tmp_path, hasher, verification=verification)
    with client:
        fields = {"username": "ada", "password": PASSWORD}
        new = post_form(client, "/account/register", email="ada@example.com", **fields)
        taken = post_form(client, "/account/register", email="ada@example.com", **fields)
        assert new.status_code == taken.status_code == 200
        pending = [re.search(r'<p id="pending">(.*?)</p>', r.text).group(1) for r in (new, taken)]
        assert pending[0] == pending[1] and words in pending[0]
        mailed = [
            ("ada@example.com", True),  # the link
            ("ada@example.com", False),  # the notice to the owner
        ]
        assert [(s.email, s.url is not None) for s in sent] == (mailed if verification else [])
        assert client.get("/account", follow_redirects=False).status_code == 303  # signed out
        signed_in = post_form(client, "/account/login", email="ada@example.com", password=PASSWORD)
        assert signed_in.status_code == (401 if verification else 303)  # the link comes first


def test_the_password_page_changes_the_password(tmp_path: Path, hasher: PasswordHasher) -> None:
    client, _ = make_client(tmp_path, hasher, verification=False)
    with client:
        fields = {"username": "ada", "password": PASSWORD, "email": "ada@example.com"}
        assert post_form(client, "/account/register", **fields).status_code == 200
        assert client.get("/account", follow_redirects=False).status_code == 303  # signed out
        login = {"email": "ada@example.com", "password": PASSWORD}
        assert post_form(client, "/account/login", **login).status_code == 303
        wrong = post_form(
            client, "/account/password", current_password="not it at all", password="x" * 20
        )
        assert wrong.status_code == 403 and "current password is wrong" in wrong.text
        done = post_form(client, "/account/password", current_password=PASSWORD, password="y" * 20)
        assert done.status_code == 200 and 'id="changed"' in done.text
        assert client.get("/account").status_code == 200  # still signed in
        client.cookies.clear()
        old = post_form(client, "/account/login", email="ada@example.com", password=PASSWORD)
        assert old.status_code == 401
        new = post_form(client, "/account/login", email="ada@example.com", password="y" * 20)
        assert new.status_code == 303


def test_an_app_s_templates_keep_their_globals_on_the_account_pages(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    from bastion.templates import Templates

    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "login.html").write_text("<p>{{ site_name }} {{ csrf_input() }}</p>")
    ours = Templates(tmp_path)
    ours.env.globals["site_name"] = "Example"
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/globals.db",
        lambda db: [
            SessionPlugin(),
            SecurityPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher),
            AccountPages(templates=ours),
        ],
    )
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/account/login").text
        assert page.startswith("<p>Example ") and 'name="csrf_token"' in page
    assert "csrf_input" not in ours.env.globals  # the app's environment is left alone
