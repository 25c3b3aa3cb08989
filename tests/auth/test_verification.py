"""E-mail verification: signed, single-use links; answers that never tell whether an address
has an account; a change of address that waits for the new address to be proven."""

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Request
from bastion.auth import AuthPlugin, CurrentUser, PasswordHasher, SessionAuth, SessionPlugin
from bastion.auth.guards import requires_verified
from bastion.auth.login import login
from bastion.auth.models import User, load_user
from bastion.auth.routes import AuthRoutes
from bastion.auth.verification import VerificationLink, VerificationRoutes
from bastion.exceptions import ConfigurationError
from bastion.testing import TestClient
from tests.auth.conftest import app_with_database

PASSWORD = "a long enough password"


def make_app(tmp_path: Path, hasher: PasswordHasher) -> tuple[App, list[VerificationLink]]:
    sent: list[VerificationLink] = []
    verification = VerificationRoutes(
        pages=None, verify_url="https://app.test/verify?token={token}", send=sent.append
    )
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/v.db",
        lambda db: [
            SessionPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher),
            verification,
        ],
    )

    @app.get("/posts", dependencies=[requires_verified()])
    async def posts() -> list[str]:
        return ["hello"]

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.email

    @app.post("/sign-in-unchecked/{user_id}")
    async def sign_in_unchecked(user_id: int, request: Request, db: AsyncSession) -> None:
        """An app's own log-in that does not wait for the address (to test the guard)."""
        login(request, await db.get(User, user_id))

    return app, sent


@pytest.fixture
def setup(tmp_path: Path, hasher: PasswordHasher):
    app, sent = make_app(tmp_path, hasher)
    with TestClient(app, base_url="https://testserver") as client:
        yield client, sent


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def register(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD):
    answer = client.post(
        "/auth/register", json={"email": email, "username": "ada", "password": password}
    )
    assert answer.status_code == 202, answer.text
    return answer


def log_in(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD):
    return client.post("/auth/login", json={"email": email, "password": password})


def sign_up(client: TestClient, sent: list[VerificationLink], email: str = "ada@example.com"):
    """Register, follow the mailed link, sign in."""
    register(client, email)
    assert client.post("/auth/email/verify", json={"token": sent[-1].token}).status_code == 204
    assert log_in(client, email).status_code == 200


def test_registering_mails_a_link_and_signs_in_only_once_it_is_followed(setup) -> None:
    client, sent = setup
    answer = register(client)
    assert "Check your inbox" in answer.json()["detail"]
    assert [(s.email, s.change) for s in sent] == [("ada@example.com", False)]
    assert sent[0].url == f"https://app.test/verify?token={sent[0].token}"
    assert client.get("/me").status_code == 401  # registering signed nobody in
    unproven = problem(log_in(client), 401)
    assert unproven == problem(log_in(client, password="not the password"), 401)
    assert "not confirmed yet" in unproven["detail"]
    assert client.post("/auth/email/verify", json={"token": sent[0].token}).status_code == 204
    assert log_in(client).status_code == 200
    assert client.get("/posts").json() == ["hello"]


def test_the_guard_refuses_an_unverified_user_signed_in_by_the_app(setup) -> None:
    client, _ = setup
    register(client)
    client.post("/sign-in-unchecked/1")
    refused = problem(client.get("/posts"), 403)
    assert refused["next"] == "verification" and "Verify your e-mail address" in refused["detail"]
    assert "(POST /auth/email/verification)" in refused["detail"]


def test_registering_a_taken_address_answers_as_a_new_one_and_tells_its_owner(setup) -> None:
    client, sent = setup
    sign_up(client, sent)
    client.post("/auth/logout")
    sent.clear()
    taken = register(client, password="the intruder's password")
    new = register(client, "new@example.com")
    assert (taken.status_code, taken.json()) == (new.status_code, new.json())
    assert sent[0] == VerificationLink("ada@example.com", None, None, False)  # a notice
    assert (sent[1].email, sent[1].token is not None) == ("new@example.com", True)
    # The intruder's password signs nobody in; the owner's still does.
    assert problem(log_in(client, password="the intruder's password"), 401)
    assert log_in(client).status_code == 200


def test_registering_a_taken_address_does_the_same_password_hashing(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    calls: list[str] = []

    class Counting(PasswordHasher):
        async def hash(self, password: str) -> str:
            calls.append(password)
            return await super().hash(password)

    counting = Counting(time_cost=1, memory_cost=1024, parallelism=1)
    app, sent = make_app(tmp_path, counting)
    with TestClient(app, base_url="https://testserver") as client:
        register(client, password="first password here")
        register(client, password="second password here")  # the same address, taken
    assert calls == ["first password here", "second password here"]


def test_a_password_reset_proves_the_address(setup) -> None:
    client, sent = setup
    register(client)
    outbox = []
    client.app.plugins[3].deliver_reset = outbox.append
    assert client.post("/auth/password-reset", json={"email": "ada@example.com"}).status_code == 202
    reset = {"token": outbox[0].token, "password": "a brand new passphrase"}
    assert client.post("/auth/password-reset/confirm", json=reset).status_code == 204
    assert log_in(client, password="a brand new passphrase").status_code == 200


def test_a_link_works_once_and_a_forged_one_never(setup) -> None:
    client, sent = setup
    register(client)
    token = sent[0].token
    assert client.post("/auth/email/verify", json={"token": token}).status_code == 204
    used = problem(client.post("/auth/email/verify", json={"token": token}), 400)
    forged = problem(client.post("/auth/email/verify", json={"token": token[:-3] + "abc"}), 400)
    assert used == forged and "ask for a new one" in used["detail"]
    assert "(POST /auth/email/verification with your address)" in used["detail"]


def test_the_invalid_link_refusal_names_the_route_under_its_prefix(
    tmp_path: Path, hasher: PasswordHasher
) -> None:
    sent: list[VerificationLink] = []
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/p.db",
        lambda db: [
            SessionPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher),
            VerificationRoutes(
                prefix="/api/account",
                pages=None,
                verify_url="https://a.test/v?t={token}",
                send=sent.append,
            ),
        ],
    )

    @app.get("/posts", dependencies=[requires_verified()])
    async def posts() -> list[str]:
        return ["hello"]

    @app.post("/sign-in-unchecked/{user_id}")
    async def sign_in_unchecked(user_id: int, request: Request, db: AsyncSession) -> None:
        login(request, await db.get(User, user_id))

    with TestClient(app, base_url="https://testserver") as client:
        refused = problem(client.post("/api/account/email/verify", json={"token": "x.y.z"}), 400)
        route = "POST /api/account/email/verification"
        assert f"({route} with your address)" in refused["detail"]
        assert client.post(route.split()[1], json={"email": "a@b.test"}).status_code == 202
        # The guard names the same route, not the default prefix's.
        register(client, "a@b.test")
        client.post("/sign-in-unchecked/1")
        unverified = problem(client.get("/posts"), 403)
        assert f"({route})" in unverified["detail"]
        assert "/auth/email/verification" not in unverified["detail"]


def test_asking_for_a_link_answers_the_same_for_any_address(setup) -> None:
    client, sent = setup
    register(client)
    register(client, "bob@example.com")
    client.post("/auth/email/verify", json={"token": sent[1].token})  # bob is verified
    sent.clear()
    answers = [
        client.post("/auth/email/verification", json={"email": email})
        for email in ("ada@example.com", "bob@example.com", "nobody@example.com")
    ]
    assert {(a.status_code, a.content) for a in answers} == {(202, b"")}
    assert [s.email for s in sent] == ["ada@example.com"]  # only the unverified account


def test_asking_for_links_is_throttled(setup) -> None:
    client, _ = setup
    for _ in range(3):
        assert (
            client.post("/auth/email/verification", json={"email": "x@example.com"}).status_code
            == 202
        )
    assert (
        "retry-after"
        in client.post("/auth/email/verification", json={"email": "x@example.com"}).headers
    )


def test_a_new_address_takes_effect_only_once_proven(setup) -> None:
    client, sent = setup
    sign_up(client, sent)
    problem(
        client.post(
            "/auth/email/change", json={"email": "ada@new.example", "password": "wrong password!"}
        ),
        403,
    )
    same = problem(
        client.post("/auth/email/change", json={"email": "ada@example.com", "password": PASSWORD}),
        422,
    )
    assert same["errors"] == [{"field": "body.email", "reason": "is already your address"}]
    assert (
        client.post(
            "/auth/email/change", json={"email": "Ada@New.example", "password": PASSWORD}
        ).status_code
        == 202
    )
    link = sent[-1]
    assert (link.email, link.change) == ("ada@new.example", True)
    assert client.get("/me").text == "ada@example.com"  # not yet
    assert client.post("/auth/email/verify", json={"token": link.token}).status_code == 204
    assert client.get("/me").text == "ada@new.example"
    assert client.get("/posts").status_code == 200  # and verified
    problem(client.post("/auth/email/verify", json={"token": link.token}), 400)


def test_moving_to_a_taken_address_tells_its_owner_and_not_the_asker(setup) -> None:
    client, sent = setup
    register(client, "bob@example.com")
    sign_up(client, sent)
    answer = client.post(
        "/auth/email/change", json={"email": "bob@example.com", "password": PASSWORD}
    )
    assert (answer.status_code, answer.content) == (202, b"")
    assert sent[-1] == VerificationLink("bob@example.com", None, None, True)  # a notice, no link


def test_pages_off_need_a_link_address() -> None:
    with pytest.raises(ConfigurationError, match="verify_url"):
        VerificationRoutes(pages=None)
