"""TOTP two-factor and the login's second step: every refusal is a 4xx problem that says
what to do next, and the password alone grants nothing."""

import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from bastion import App
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    JWTAuth,
    PasswordHasher,
    SessionAuth,
    SessionPlugin,
)
from bastion.auth.models import load_user
from bastion.auth.pages import AccountPages
from bastion.auth.routes import AuthRoutes
from bastion.auth.two_factor_routes import TwoFactorRoutes
from bastion.exceptions import ConfigurationError
from bastion.security import SecurityPlugin
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database, sign_up

PASSWORD = "a long enough password"
LOGIN = {"email": "ada@example.com", "password": PASSWORD}


def make_app(
    url: str, hasher: PasswordHasher, *, tokens: JWTAuth | None = None, **options: Any
) -> App:
    routes = AuthRoutes(hasher=hasher, tokens=tokens, sessions=tokens is None)
    backends = AuthPlugin(*([tokens] if tokens else [SessionAuth()]), load_user=load_user)
    plugins = lambda db: [SessionPlugin(), backends, routes, TwoFactorRoutes(**options)]  # noqa: E731
    app, _ = app_with_database(url, plugins)

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.email

    return app


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"]
    return body


def enrolled(client: TestClient) -> tuple[str, list[str]]:
    """Sign ada up and in, turn TOTP on; the secret and the recovery codes."""
    assert sign_up(client, {**LOGIN, "username": "ada"}).status_code == 200
    secret = client.post("/auth/two-factor/enable", json={"password": PASSWORD}).json()["secret"]
    codes = client.post("/auth/two-factor/confirm", json={"code": pyotp.TOTP(secret).now()})
    client.post("/auth/logout")
    return secret, codes.json()["recovery_codes"]


def next_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30)  # not the step the confirmation spent


@pytest.fixture
def client(tmp_path: Path, hasher: PasswordHasher):
    with TestClient(
        make_app(f"sqlite+aiosqlite:///{tmp_path}/a.db", hasher), base_url="https://testserver"
    ) as client:
        yield client


def test_the_password_alone_leaves_the_session_without_rights(client: TestClient) -> None:
    secret, _ = enrolled(client)
    first = client.post("/auth/login", json=LOGIN)
    assert first.status_code == 202
    assert first.json()["methods"] == ["totp", "recovery_code"]
    problem(client.get("/me"), 401)  # pending_2fa is no login
    problem(client.get("/auth/two-factor"), 401)
    assert (
        client.post("/auth/two-factor/challenge", json={"code": next_code(secret)}).status_code
        == 200
    )
    assert client.get("/me").text == "ada@example.com"


def test_a_code_without_a_password_first_is_told_to_sign_in(client: TestClient) -> None:
    secret, _ = enrolled(client)
    body = problem(client.post("/auth/two-factor/challenge", json={"code": next_code(secret)}), 401)
    assert body["next"] == "password" and "sign in with your password" in body["detail"]
    forged = client.post(
        "/auth/two-factor/challenge", json={"code": "123456", "pending": "WyIxIl0.x.y"}
    )
    assert problem(forged, 401)["next"] == "password"


def test_wrong_missing_and_replayed_codes_are_refused(client: TestClient) -> None:
    secret, _ = enrolled(client)
    client.post("/auth/login", json=LOGIN)
    assert (
        problem(client.post("/auth/two-factor/challenge", json={}), 422)["errors"][0]["field"]
        == "body.code"
    )
    wrong = problem(client.post("/auth/two-factor/challenge", json={"code": "000000"}), 401)
    assert wrong["next"] == "code" and "authenticator app" in wrong["detail"]
    code = next_code(secret)
    assert client.post("/auth/two-factor/challenge", json={"code": code}).status_code == 200
    client.post("/auth/logout")
    client.post("/auth/login", json=LOGIN)
    problem(client.post("/auth/two-factor/challenge", json={"code": code}), 401)  # replayed
    problem(client.get("/me"), 401)


def test_codes_are_throttled_per_account(client: TestClient) -> None:
    enrolled(client)
    client.post("/auth/login", json=LOGIN)
    for _ in range(4):  # one budget of 5 codes a minute per account; confirming spent one
        problem(client.post("/auth/two-factor/challenge", json={"code": "000000"}), 401)
    refused = client.post("/auth/two-factor/challenge", json={"code": "000000"})
    problem(refused, 429)
    assert "retry-after" in refused.headers


def test_a_recovery_code_works_once_and_new_ones_replace_the_old(client: TestClient) -> None:
    _, codes = enrolled(client)
    client.post("/auth/login", json=LOGIN)
    spaced = codes[0].upper().replace("-", " ")  # as people type them
    assert (
        client.post("/auth/two-factor/challenge", json={"recovery_code": spaced}).status_code == 200
    )
    assert client.get("/auth/two-factor").json() == {
        "enabled": True,
        "pending_confirmation": False,
        "recovery_codes_left": 9,
    }
    new = client.post("/auth/two-factor/recovery-codes", json={"password": PASSWORD}).json()
    assert len(new["recovery_codes"]) == 10
    client.post("/auth/logout")
    client.post("/auth/login", json=LOGIN)
    for used_or_replaced in (codes[0], codes[1]):
        problem(
            client.post("/auth/two-factor/challenge", json={"recovery_code": used_or_replaced}), 401
        )
    assert (
        client.post(
            "/auth/two-factor/challenge", json={"recovery_code": new["recovery_codes"][0]}
        ).status_code
        == 200
    )


def test_enrolment_refusals_say_what_to_do(client: TestClient) -> None:
    problem(client.post("/auth/two-factor/enable", json={"password": PASSWORD}), 401)
    assert sign_up(client, {**LOGIN, "username": "ada"}).status_code == 200
    wrong = problem(
        client.post("/auth/two-factor/enable", json={"password": "not my password"}), 403
    )
    assert wrong["errors"] == [{"field": "body.password", "reason": "is wrong"}]
    assert (
        "start one"
        in problem(client.post("/auth/two-factor/confirm", json={"code": "123456"}), 409)["detail"]
    )
    problem(client.post("/auth/two-factor/recovery-codes", json={"password": PASSWORD}), 409)
    enrolment = client.post("/auth/two-factor/enable", json={"password": PASSWORD}).json()
    assert enrolment["uri"].startswith("otpauth://totp/") and enrolment["qr_svg"].startswith("<svg")
    assert client.post("/auth/login", json=LOGIN).status_code == 200  # not on until confirmed
    bad = problem(client.post("/auth/two-factor/confirm", json={"code": "000000"}), 422)
    assert bad["errors"][0]["field"] == "body.code"
    assert (
        client.post(
            "/auth/two-factor/confirm", json={"code": pyotp.TOTP(enrolment["secret"]).now()}
        ).status_code
        == 201
    )
    problem(client.post("/auth/two-factor/enable", json={"password": PASSWORD}), 409)


def test_disabling_needs_the_password_and_ends_the_second_step(client: TestClient) -> None:
    secret, _ = enrolled(client)
    client.post("/auth/login", json=LOGIN)
    client.post("/auth/two-factor/challenge", json={"code": next_code(secret)})
    problem(client.post("/auth/two-factor/disable", json={"password": "nope nope nope"}), 403)
    assert client.post("/auth/two-factor/disable", json={"password": PASSWORD}).status_code == 204
    client.post("/auth/logout")
    assert client.post("/auth/login", json=LOGIN).status_code == 200


def test_a_remembered_device_skips_the_second_step_and_a_tampered_one_does_not(
    client: TestClient,
) -> None:
    secret, _ = enrolled(client)
    client.post("/auth/login", json=LOGIN)
    done = client.post(
        "/auth/two-factor/challenge", json={"code": next_code(secret), "remember": True}
    )
    device = done.cookies["remembered_device"]
    client.post("/auth/logout")
    assert client.post("/auth/login", json=LOGIN).status_code == 200
    client.post("/auth/logout")
    client.cookies.delete("remembered_device")
    client.cookies.set("remembered_device", device[:-2] + "xx")  # tampered
    assert client.post("/auth/login", json=LOGIN).status_code == 202


def test_token_logins_carry_the_pending_token(tmp_path: Path, hasher: PasswordHasher) -> None:
    tokens = JWTAuth(secret=SECRET)
    app = make_app(f"sqlite+aiosqlite:///{tmp_path}/t.db", hasher, tokens=tokens)
    with TestClient(app, base_url="https://testserver") as client:
        token = sign_up(client, {**LOGIN, "username": "ada"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        secret = client.post(
            "/auth/two-factor/enable", json={"password": PASSWORD}, headers=auth
        ).json()["secret"]
        client.post(
            "/auth/two-factor/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=auth
        )
        first = client.post("/auth/login", json=LOGIN)
        assert first.status_code == 202 and "token" not in first.json()
        done = client.post(
            "/auth/two-factor/challenge",
            json={"code": next_code(secret), "pending": first.json()["pending"]},
        )
        assert (
            client.get("/me", headers={"Authorization": f"Bearer {done.json()['token']}"}).text
            == "ada@example.com"
        )


def test_two_factor_routes_need_auth_routes() -> None:
    with pytest.raises(ConfigurationError, match="add AuthRoutes"):
        App(plugins=[TwoFactorRoutes()])


def test_pages_need_csrf_and_app_templates_replace_the_battery_s(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/p.db"
    with pytest.raises(ConfigurationError, match="SecurityPlugin"):
        app_with_database(
            url,
            lambda db: [
                SessionPlugin(),
                AuthPlugin(SessionAuth(), load_user=load_user),
                AuthRoutes(hasher=hasher),
                AccountPages(),
            ],
        )
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "login.html").write_text("<p>our own sign-in {{ csrf_input() }}</p>")
    app, _ = app_with_database(
        url,
        lambda db: [
            SessionPlugin(),
            SecurityPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher),
            TwoFactorRoutes(),
            AccountPages(templates=str(tmp_path)),
        ],
    )
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/account/login")
        assert "our own sign-in" in page.text and 'name="csrf_token"' in page.text
        assert "Create an account" in client.get("/account/register").text  # not overridden
        forged = client.post("/account/login", data={"email": "a@example.com", "password": "x"})
        assert forged.status_code == 403  # no CSRF token
        assert (
            client.get("/account/two-factor", follow_redirects=False).headers["location"]
            == "/account/login"
        )
