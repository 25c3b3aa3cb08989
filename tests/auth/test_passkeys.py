"""Passkeys through the JSON routes, with a software authenticator making real signatures:
registration, password-less sign-in, management, and every refusal a 4xx that says what to
do next. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from webauthn.helpers import bytes_to_base64url

from bastion import App, ConfigurationError, Settings
from bastion.auth import AuthPlugin, CurrentUser, PasswordHasher, SessionAuth, SessionPlugin
from bastion.auth.models import User, load_user
from bastion.auth.passkeys import Passkey, PasskeyRoutes
from bastion.auth.routes import AuthRoutes
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database
from tests.auth.conftest import sign_up as register_and_log_in
from tests.auth.passkey_authenticator import SoftAuthenticator

ORIGIN = "https://testserver"
RP_ID = "testserver"
PASSWORD = "a long enough password"
WEBAUTHN = {"webauthn_rp_id": RP_ID, "webauthn_origins": [ORIGIN]}


def make_app(url: str, hasher: PasswordHasher, **options: Any) -> App:
    app, _ = app_with_database(
        url,
        lambda db: [
            SessionPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher, throttle=None),
            PasskeyRoutes(throttle=None, **options),
        ],
        **WEBAUTHN,
    )

    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"email": user.email}

    return app


@pytest.fixture
def app(database_url: str, hasher: PasswordHasher) -> App:
    return make_app(database_url, hasher)


def client_for(app: App) -> TestClient:
    return TestClient(app, base_url=ORIGIN)


def sign_up(client: TestClient, email: str = "ada@example.com") -> None:
    """Register, then sign in with the password: a passkey is added by a signed-in user."""
    body = {"email": email, "username": "ada", "password": PASSWORD}
    assert register_and_log_in(client, body).status_code == 200


def add_passkey(client: TestClient, authenticator: SoftAuthenticator, name: str | None = None):
    options = client.post("/auth/passkeys/register/options").json()
    credential = authenticator.create(options)
    return client.post("/auth/passkeys/register", json={"credential": credential, "name": name})


def sign_in(client: TestClient, authenticator: SoftAuthenticator, **changes: Any):
    options = client.post("/auth/passkeys/login/options").json()
    return client.post(
        "/auth/passkeys/login", json={"credential": authenticator.get(options, **changes)}
    )


def second_factor(client: TestClient, authenticator: SoftAuthenticator, **changes: Any):
    options = client.post("/auth/passkeys/second-factor/options", json={}).json()
    answer = {"credential": authenticator.get(options, **changes)}
    return client.post("/auth/passkeys/second-factor", json=answer)


def assert_refusal(response: Any, status: int, reason: str, *words: str) -> dict:
    """A 4xx problem+json with the machine-readable reason and a sentence saying what next."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["reason"] == reason
    for word in words:
        assert word in problem["detail"], problem["detail"]
    return problem


def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)


def test_register_then_sign_in_without_a_password(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        options = client.post("/auth/passkeys/register/options").json()
        assert options["rp"] == {"name": "bastion", "id": RP_ID}
        assert options["attestation"] == "none"
        assert options["authenticatorSelection"]["residentKey"] == "required"
        assert options["authenticatorSelection"]["userVerification"] == "preferred"
        assert options["user"]["name"] == "ada@example.com"
        credential = key.create(options)
        added = client.post(
            "/auth/passkeys/register", json={"credential": credential, "name": "Laptop"}
        )
        assert added.status_code == 201, added.text
        assert added.json()["name"] == "Laptop" and added.json()["transports"] == ["internal"]

        client.post("/auth/logout")
        assert client.get("/me").status_code == 401
        options = client.post("/auth/passkeys/login/options").json()
        assert options["allowCredentials"] == [] and options["rpId"] == RP_ID
        signed_in = client.post("/auth/passkeys/login", json={"credential": key.get(options)})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["email"] == "ada@example.com"
        assert signed_in.json()["passkey"]["last_used_at"] is not None
        assert client.get("/me").json() == {"email": "ada@example.com"}


def test_a_passkey_is_the_second_step_after_a_password(app: App) -> None:
    key, eves = authenticator(), authenticator()
    with client_for(app) as client:
        sign_up(client, "eve@example.com")
        assert add_passkey(client, eves).status_code == 201
        client.post("/auth/logout")
        sign_up(client)
        assert client.post("/auth/passkeys/second-factor/options", json={}).status_code == 401
        assert add_passkey(client, key).status_code == 201
        client.post("/auth/logout")

        password = {"email": "ada@example.com", "password": PASSWORD}
        pending = client.post("/auth/login", json=password)
        assert pending.status_code == 202 and "passkey" in pending.json()["methods"]
        assert client.get("/me").status_code == 401  # half logged in: no rights
        options = client.post("/auth/passkeys/second-factor/options", json={}).json()
        assert [c["id"] for c in options["allowCredentials"]] == [
            bytes_to_base64url(key.credential_id)
        ]
        # Eve's passkey does not finish Ada's login.
        answer = {"credential": eves.get(options)}
        refused = client.post("/auth/passkeys/second-factor", json=answer)
        assert_refusal(refused, 401, "unknown_credential")
        done = second_factor(client, key)
        assert done.status_code == 200, done.text
        assert done.json()["email"] == "ada@example.com"
        assert client.get("/me").json() == {"email": "ada@example.com"}
        # Spent: the pending login is over.
        client.post("/auth/logout")
        assert client.post("/auth/passkeys/second-factor/options", json={}).status_code == 401


def test_the_next_options_exclude_passkeys_already_registered(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        options = client.post("/auth/passkeys/register/options").json()
        assert [c["id"] for c in options["excludeCredentials"]] == [key.create(options)["id"]]


def test_a_challenge_from_another_session_is_refused(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        options = client.post("/auth/passkeys/login/options").json()
        client.cookies.clear()  # another browser
        response = client.post("/auth/passkeys/login", json={"credential": key.get(options)})
        assert_refusal(response, 400, "challenge", "Ask for new options")


def test_a_made_up_challenge_is_refused(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        client.post("/auth/passkeys/register/options")
        forged = key.create({"challenge": "AAAA", "user": {"id": "AAAA"}})
        response = client.post("/auth/passkeys/register", json={"credential": forged})
        problem = assert_refusal(response, 400, "credential", "Ask for new registration options")
        assert problem["errors"][0]["field"] == "body.credential"


def test_a_replayed_challenge_is_refused(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        client.post("/auth/logout")
        options = client.post("/auth/passkeys/login/options").json()
        first = key.get(options)
        assert client.post("/auth/passkeys/login", json={"credential": first}).status_code == 200
        client.post("/auth/logout")
        again = client.post("/auth/passkeys/login", json={"credential": key.get(options)})
        assert_refusal(again, 400, "challenge", "used already", "Ask for new options")


def test_a_challenge_for_registration_does_not_sign_in(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        options = client.post("/auth/passkeys/register/options").json()
        response = client.post("/auth/passkeys/login", json={"credential": key.get(options)})
        assert_refusal(response, 400, "challenge")


def test_an_expired_challenge_is_refused(database_url: str, hasher: PasswordHasher) -> None:
    import datetime

    app = make_app(database_url, hasher, challenge_lifetime=datetime.timedelta(seconds=-1))
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        response = add_passkey(client, key)
        assert_refusal(response, 400, "challenge", "expired")


def test_concurrent_answers_to_one_challenge_sign_in_once(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        client.post("/auth/logout")
        options = client.post("/auth/passkeys/login/options").json()
        answers = [key.get(options), key.get(options)]

        async def race() -> list[int]:
            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(
                    transport=transport, base_url=ORIGIN, cookies=dict(client.cookies)
                ) as a,
                httpx.AsyncClient(
                    transport=transport, base_url=ORIGIN, cookies=dict(client.cookies)
                ) as b,
            ):
                responses = await asyncio.gather(
                    a.post("/auth/passkeys/login", json={"credential": answers[0]}),
                    b.post("/auth/passkeys/login", json={"credential": answers[1]}),
                )
            return sorted(r.status_code for r in responses)

        assert client.portal.call(race()) == [200, 400]


def test_a_page_on_another_origin_is_refused(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        options = client.post("/auth/passkeys/register/options").json()
        credential = key.create(options, origin="https://evil.example")
        response = client.post("/auth/passkeys/register", json={"credential": credential})
        assert_refusal(response, 400, "origin", "https://evil.example", "BASTION_WEBAUTHN_ORIGINS")
        assert add_passkey(client, key).status_code == 201
        client.post("/auth/logout")
        response = sign_in(client, key, origin="https://evil.example")
        assert_refusal(response, 401, "origin", "not this site")
        assert "www-authenticate" in response.headers


def test_a_passkey_for_another_rp_id_is_refused(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        options = client.post("/auth/passkeys/register/options").json()
        credential = key.create(options, rp_id="evil.example")
        response = client.post("/auth/passkeys/register", json={"credential": credential})
        assert_refusal(response, 400, "rp_id", "another site", "Ask for new registration options")
        assert add_passkey(client, key).status_code == 201
        client.post("/auth/logout")
        assert_refusal(
            sign_in(client, key, rp_id="evil.example"), 401, "rp_id", "sign in another way"
        )


def test_a_sign_count_that_goes_back_is_refused(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        client.post("/auth/logout")
        assert sign_in(client, key, sign_count=5).status_code == 200
        client.post("/auth/logout")
        refused = sign_in(client, key, sign_count=5)  # a clone replaying the same counter
        assert_refusal(refused, 401, "sign_count", "may have been copied", "remove this passkey")
        assert client.get("/me").status_code == 401
        assert sign_in(client, key, sign_count=3).status_code == 401
        assert sign_in(client, key, sign_count=6).status_code == 200


def test_authenticators_without_a_counter_sign_in_every_time(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        for _ in range(2):
            client.post("/auth/logout")
            assert sign_in(client, key, sign_count=0).status_code == 200


def test_an_unknown_credential_is_refused(app: App) -> None:
    with client_for(app) as client:
        response = sign_in(client, authenticator())
        assert_refusal(
            response, 401, "unknown_credential", "not registered here", "sign in another way"
        )


def test_a_bad_signature_is_refused(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        client.post("/auth/logout")
        options = client.post("/auth/passkeys/login/options").json()
        credential = key.get(options)
        credential["response"]["signature"] = credential["response"]["signature"][:-4] + "AAAA"
        response = client.post("/auth/passkeys/login", json={"credential": credential})
        assert_refusal(response, 401, "credential", "signature", "try again")


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"rawId": "***", "id": "x"},
        {"rawId": "AAAA", "id": "AAAA", "type": "public-key", "response": "nope"},
        {"rawId": "AAAA", "id": "AAAA", "type": "public-key", "response": {"clientDataJSON": "!!"}},
    ],
)
def test_garbage_credentials_are_a_4xx_not_a_5xx(app: App, credential: dict) -> None:
    with client_for(app) as client:
        sign_up(client)
        client.post("/auth/passkeys/register/options")
        response = client.post("/auth/passkeys/register", json={"credential": credential})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        client.post("/auth/passkeys/login/options")
        response = client.post("/auth/passkeys/login", json={"credential": credential})
        assert response.status_code in (400, 401), response.text


def test_a_passkey_registers_once(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201
        options = client.post("/auth/passkeys/register/options").json()
        response = client.post("/auth/passkeys/register", json={"credential": key.create(options)})
        assert_refusal(response, 409, "registered", "registered already")


def test_registering_needs_a_signed_in_user(app: App) -> None:
    with client_for(app) as client:
        assert client.post("/auth/passkeys/register/options").status_code == 401
        assert client.get("/auth/passkeys").status_code == 401


def test_list_rename_and_delete(app: App) -> None:
    laptop, phone = authenticator(), authenticator()
    with client_for(app) as client:
        sign_up(client)
        first = add_passkey(client, laptop).json()
        second = add_passkey(client, phone, "Phone").json()
        assert first["name"] == "Passkey 1"
        listed = client.get("/auth/passkeys").json()
        assert [p["name"] for p in listed] == ["Passkey 1", "Phone"]

        renamed = client.patch(f"/auth/passkeys/{first['id']}", json={"name": "Laptop"})
        assert renamed.json()["name"] == "Laptop"
        blank = client.patch(f"/auth/passkeys/{first['id']}", json={"name": ""})
        assert blank.status_code == 422

        client.post("/auth/logout")
        sign_up(client, "eve@example.com")  # someone else
        assert client.delete(f"/auth/passkeys/{first['id']}").status_code == 404
        assert client.patch(f"/auth/passkeys/{first['id']}", json={"name": "x"}).status_code == 404
        client.post("/auth/logout")
        back = {"email": "ada@example.com", "password": PASSWORD}
        assert client.post("/auth/login", json=back).status_code == 202  # a passkey follows
        assert second_factor(client, laptop).status_code == 200

        assert client.delete(f"/auth/passkeys/{second['id']}").status_code == 204
        # With a password the last passkey can go too.
        assert client.delete(f"/auth/passkeys/{first['id']}").status_code == 204
        assert client.get("/auth/passkeys").json() == []
        client.post("/auth/logout")
        assert_refusal(sign_in(client, laptop), 401, "unknown_credential")


def test_the_last_way_to_sign_in_stays(app: App) -> None:
    key, spare = authenticator(), authenticator()
    with client_for(app) as client:
        sign_up(client)
        first = add_passkey(client, key).json()
        second = add_passkey(client, spare).json()

        async def drop_password() -> None:
            database = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))
            async with database.sessions() as db:  # type: ignore[union-attr]
                user = (await db.scalars(select(User))).one()
                user.password_hash = "!"  # a password-less account
                await db.commit()

        client.portal.call(drop_password())
        client.post("/auth/logout")
        assert sign_in(client, key).status_code == 200  # the password-less account signs in
        assert client.delete(f"/auth/passkeys/{second['id']}").status_code == 204
        refused = client.delete(f"/auth/passkeys/{first['id']}")
        assert_refusal(refused, 409, "last_login_method", "set a password or add another passkey")
        assert len(client.get("/auth/passkeys").json()) == 1


def test_the_page_offers_sign_in_or_management(app: App) -> None:
    with client_for(app) as client:
        page = client.get("/passkeys")
        assert page.status_code == 200 and 'id="passkey-sign-in"' in page.text
        assert 'src="/auth/passkeys/passkeys.js"' in page.text
        sign_up(client)
        page = client.get("/passkeys")
        assert 'id="passkey-add"' in page.text and "ada@example.com" in page.text
        script = client.get("/auth/passkeys/passkeys.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "navigator.credentials.create" in script.text


def test_an_app_template_of_the_same_name_overrides_the_page(
    database_url: str, hasher: PasswordHasher, tmp_path: Any
) -> None:
    from bastion.templates import Templates

    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "passkeys.html").write_text("<p>ours: {{ api }}</p>")
    app = make_app(database_url, hasher, templates=Templates(tmp_path))
    with client_for(app) as client:
        assert client.get("/passkeys").text == "<p>ours: /auth/passkeys</p>"


def test_the_app_template_folder_is_given_as_to_every_account_plugin(
    database_url: str, hasher: PasswordHasher, tmp_path: Any
) -> None:
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "passkeys.html").write_text("<p>a folder: {{ api }}</p>")
    app = make_app(database_url, hasher, templates=str(tmp_path))
    with client_for(app) as client:
        assert client.get("/passkeys").text == "<p>a folder: /auth/passkeys</p>"


def test_routes_are_in_the_openapi_document(app: App) -> None:
    with client_for(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/auth/passkeys/register/options",
        "/auth/passkeys/register",
        "/auth/passkeys/login/options",
        "/auth/passkeys/login",
        "/auth/passkeys",
        "/auth/passkeys/{passkey_id}",
    } <= set(paths)
    assert "/passkeys" not in paths
    assert set(paths["/auth/passkeys/login"]["post"]["responses"]) >= {"200", "400", "401"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "no WebAuthn rp id; set BASTION_WEBAUTHN_RP_ID"),
        ({"webauthn_rp_id": "example.com"}, "no WebAuthn origins; set BASTION_WEBAUTHN_RP_ID"),
        (
            {"webauthn_rp_id": "example.com:443", "webauthn_origins": ["https://example.com"]},
            "must be a bare domain",
        ),
        (
            {"webauthn_rp_id": "127.0.0.1", "webauthn_origins": ["https://127.0.0.1"]},
            "must be a bare domain",
        ),
        (
            {"webauthn_rp_id": "example.com", "webauthn_origins": ["http://example.com"]},
            "over https",
        ),
        (
            {"webauthn_rp_id": "example.com", "webauthn_origins": ["https://example.org"]},
            "is not on the rp id",
        ),
    ],
)
def test_misconfigured_relying_party_fails_at_start_up(settings: dict, message: str) -> None:
    database = SQLAlchemyPlugin("sqlite+aiosqlite:///:memory:")
    plugins = [database, SessionPlugin(), AuthPlugin(SessionAuth(), load_user=load_user)]
    with pytest.raises(ConfigurationError, match=message):
        App(
            settings=Settings(profile="test", secret_key=SECRET, **settings),
            plugins=[*plugins, PasskeyRoutes()],
        )


def test_subdomain_and_localhost_origins_are_accepted() -> None:
    database = SQLAlchemyPlugin("sqlite+aiosqlite:///:memory:")
    routes = PasskeyRoutes(
        rp_id="example.com", origins=["https://app.example.com", "https://example.com:8443"]
    )
    App(
        settings=Settings(profile="test", secret_key=SECRET),
        plugins=[database, SessionPlugin(), AuthPlugin(SessionAuth(), load_user=load_user), routes],
    )
    assert routes.party.origins == ("https://app.example.com", "https://example.com:8443")
    local = PasskeyRoutes(rp_id="localhost", origins=["http://localhost:8000"])
    App(
        settings=Settings(profile="test", secret_key=SECRET),
        plugins=[database, SessionPlugin(), AuthPlugin(SessionAuth(), load_user=load_user), local],
    )


def test_passkey_rows_are_kept(app: App) -> None:
    key = authenticator()
    with client_for(app) as client:
        sign_up(client)
        assert add_passkey(client, key).status_code == 201

        async def stored() -> Passkey:
            database = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))
            async with database.sessions() as db:  # type: ignore[union-attr]
                return (await db.scalars(select(Passkey))).one()

        row = client.portal.call(stored())
    assert row.credential_id == key.credential_id and row.user_handle == key.user_handle
    assert row.public_key == key.cose_key() and row.sign_count == 0
