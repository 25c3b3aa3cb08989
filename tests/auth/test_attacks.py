"""Attacks on authentication, each with the precise outcome it must meet."""

import base64
import datetime
import json
import statistics
import time
from typing import Any

import jwt as pyjwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Request, Settings
from bastion.auth import (
    AuthPlugin,
    CurrentUser,
    JWTAuth,
    JWTKey,
    MemoryStore,
    PasswordHasher,
    SessionAuth,
    SessionPlugin,
    login,
    requires,
)
from bastion.auth.apikeys import APIKeyAuth
from bastion.auth.models import User, load_user
from bastion.auth.routes import AuthRoutes
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient
from tests.auth.conftest import SECRET, app_with_database

PASSWORD = "a long enough password"
OTHER = "someone-elses-secret-0123456789abcdef"


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


# -- session fixation -------------------------------------------------------------------------
def session_app(profile: str = "test") -> App:
    app = App(
        settings=Settings(profile=profile, secret_key=SECRET),
        plugins=[SessionPlugin(MemoryStore()), AuthPlugin(SessionAuth())],
    )

    class Victim:
        id = 1

    @app.post("/visit")
    async def visit(request: Request) -> None:
        request.session["seen"] = True

    @app.post("/login")
    async def log_in(request: Request) -> None:
        login(request, Victim())

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.subject

    return app


def test_session_id_changes_at_login() -> None:
    client = TestClient(session_app(), base_url="https://testserver")
    client.post("/visit")
    before = client.cookies["session"]
    client.post("/login")
    after = client.cookies["session"]
    assert after != before
    assert client.get("/me").text == "1"
    old = TestClient(client.app, base_url="https://testserver")
    assert old.get("/me", headers={"cookie": f"session={before}"}).status_code == 401


def test_a_planted_session_is_not_adopted() -> None:
    app = session_app()
    attacker = TestClient(app, base_url="https://testserver")
    attacker.post("/visit")  # a genuine, signed session id the attacker owns
    planted = attacker.cookies["session"]
    victim = TestClient(app, base_url="https://testserver")
    logged_in = victim.post("/login", headers={"cookie": f"session={planted}"})
    issued = logged_in.headers["set-cookie"].split(";")[0].removeprefix("session=")
    assert issued != planted
    assert attacker.get("/me").status_code == 401  # still anonymous with the planted id
    assert victim.get("/me", headers={"cookie": f"session={issued}"}).text == "1"


def test_an_unsigned_attacker_chosen_id_is_ignored() -> None:
    client = TestClient(session_app(), base_url="https://testserver")
    response = client.post("/visit", headers={"cookie": "session=attacker-chosen-id"})
    issued = response.headers["set-cookie"].split(";")[0].removeprefix("session=")
    assert "attacker-chosen-id" not in issued


# -- cookie flags -----------------------------------------------------------------------------
def test_cookie_flags_in_production() -> None:
    client = TestClient(session_app("prod"), base_url="https://testserver")
    cookie = client.post("/login").headers["set-cookie"]
    flags = {part.strip() for part in cookie.split(";")[1:]}
    assert {"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} <= flags


# -- JWT --------------------------------------------------------------------------------------
tokens = JWTAuth(
    keys=[JWTKey("current", SECRET)], issuer="https://id.example", audience="api", scheme="Bearer"
)


def jwt_app() -> TestClient:
    app = App(settings=Settings(profile="test"), plugins=[AuthPlugin(tokens)])

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.subject

    return TestClient(app)


def forge(claims: dict[str, Any] | None = None, key: str = SECRET, **headers: Any) -> str:
    now = datetime.datetime.now(datetime.UTC)
    payload = {
        "sub": "1",
        "iss": "https://id.example",
        "aud": "api",
        "iat": now,
        "exp": now + datetime.timedelta(minutes=5),
        **(claims or {}),
    }
    fields = {k: v for k, v in {"kid": "current", **headers}.items() if v is not None}
    return pyjwt.encode(payload, key, algorithm="HS256", headers=fields)


def unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'current'})}.{part(claims)}."


NOW = datetime.datetime.now(datetime.UTC)
LATER = int((NOW + datetime.timedelta(hours=1)).timestamp())


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (lambda: forge(), None),
        (
            lambda: unsigned({"sub": "1", "exp": LATER, "iss": "https://id.example", "aud": "api"}),
            "The token is invalid",
        ),
        (lambda: forge(key=OTHER), "The token is invalid"),
        (
            lambda: forge({"exp": NOW - datetime.timedelta(minutes=5)}),
            "The token has expired",
        ),
        (
            # the time of the request, not of the module's import: a long run starts this
            # test minutes after collection, when an import-time nbf has already passed
            lambda: forge(
                {"nbf": datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)}
            ),
            "The token is not valid yet",
        ),
        (lambda: forge({"aud": "another-api"}), "The token is not for this service"),
        (lambda: forge({"iss": "https://evil.example"}), "The token is not for this service"),
        (lambda: forge(kid="retired"), "The token is signed with an unknown key"),
        (lambda: forge(kid=None), "The token is signed with an unknown key"),
        (lambda: forge({"exp": None}), "The token is invalid"),
        (lambda: forge({"sub": 1}), "The token is invalid"),
    ],
    ids=[
        "valid",
        "alg-none",
        "wrong-key",
        "expired",
        "not-yet-valid",
        "wrong-audience",
        "wrong-issuer",
        "unknown-kid",
        "no-kid",
        "no-exp",
        "non-string-sub",
    ],
)
def test_jwt_attacks_are_401(token: Any, detail: str | None) -> None:
    response = jwt_app().get("/me", headers={"Authorization": f"Bearer {token()}"})
    if detail is None:
        assert response.text == "1"
        return
    assert_problem(response, 401)
    assert response.json()["detail"].startswith(detail)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


# -- API keys ---------------------------------------------------------------------------------
def test_revoked_api_key_is_401_and_wrong_scope_is_403(database_url: str) -> None:
    holder: dict[str, APIKeyAuth] = {}

    def plugins(database: SQLAlchemyPlugin) -> list[Any]:
        holder["keys"] = APIKeyAuth(database)
        return [AuthPlugin(holder["keys"])]

    app, _ = app_with_database(database_url, plugins)
    keys = holder["keys"]

    @app.post("/keys")
    async def issue(db: AsyncSession) -> dict:
        new = await keys.create(db, owner="1", scopes=["read"])
        return {"id": new.record.id, "key": new.key}

    @app.post("/keys/{key_id}/revoke")
    async def revoke(key_id: int, db: AsyncSession) -> None:
        await keys.revoke(db, key_id)

    @app.delete("/things", dependencies=[requires(scopes=["delete"])])
    async def delete_things() -> None:
        return None

    @app.get("/things", dependencies=[requires(scopes=["read"])])
    async def list_things() -> list[str]:
        return []

    with TestClient(app) as client:
        new = client.post("/keys").json()
        key = {"X-API-Key": new["key"]}
        assert client.get("/things", headers=key).json() == []
        assert_problem(client.delete("/things", headers=key), 403)
        client.post(f"/keys/{new['id']}/revoke")
        revoked = client.get("/things", headers=key)
        assert_problem(revoked, 401)
        assert revoked.json()["detail"] == "The API key has been revoked"


# -- SQL injection on the account routes -------------------------------------------------------
INJECTIONS = [
    "' OR '1'='1",
    "ada@example.com' --",
    "'; DROP TABLE auth_users; --",
    '" OR ""="',
    "ada@example.com'; UPDATE auth_users SET roles='[\"admin\"]'; --",
    "1' UNION SELECT password_hash FROM auth_users --",
]


def test_sql_injection_on_login_and_register(database_url: str, hasher: PasswordHasher) -> None:
    routes = AuthRoutes(hasher=hasher, throttle=None)  # dozens of attempts: not the point here
    app, database = app_with_database(
        database_url,
        lambda db: [SessionPlugin(), AuthPlugin(SessionAuth(), load_user=load_user), routes],
    )

    async def snapshot() -> list[tuple[Any, ...]]:
        async with database.sessions() as db:  # type: ignore[union-attr]
            rows = await db.execute(select(User.id, User.email, User.password_hash, User.roles))
            return [tuple(r) for r in rows]

    with TestClient(app, base_url="https://testserver") as client:
        body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        assert client.post("/auth/register", json=body).status_code == 202
        before = client.portal.call(snapshot())
        for payload in INJECTIONS:
            logged = client.post("/auth/login", json={"email": payload, "password": payload})
            assert_problem(logged, 401)
            password_only = {"email": "ada@example.com", "password": payload}
            assert_problem(client.post("/auth/login", json=password_only), 401)
            registered = client.post(
                "/auth/register",
                json={"email": payload, "username": payload, "password": PASSWORD},
            )
            assert_problem(registered, 422)  # not an e-mail address
            reset = client.post("/auth/password-reset", json={"email": payload})
            assert reset.status_code == 202
        assert client.portal.call(snapshot()) == before

        async def count() -> int:
            async with database.sessions() as db:  # type: ignore[union-attr]
                return int(await db.scalar(select(func.count()).select_from(User)) or 0)

        assert client.portal.call(count()) == 1


# -- constant-time comparisons ------------------------------------------------------------------
class CountingHasher(PasswordHasher):
    """A real hasher that also counts the verifications it runs."""

    def __init__(self, **costs: int) -> None:
        super().__init__(**costs)
        self.real = self.dummy = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        self.real += 1
        return await super().verify(password_hash, password)

    async def verify_dummy(self, password: str) -> bool:
        self.dummy += 1
        return await super().verify_dummy(password)


def test_unknown_users_cost_a_dummy_verification(database_url: str, hasher: PasswordHasher) -> None:
    counting = CountingHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    app, _ = app_with_database(
        database_url, lambda db: [SessionPlugin(), AuthRoutes(hasher=counting)]
    )
    with TestClient(app, base_url="https://testserver") as client:
        body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        assert client.post("/auth/register", json=body).status_code == 202

        def timed(email: str) -> float:
            start = time.perf_counter()
            response = client.post("/auth/login", json={"email": email, "password": "wrong"})
            assert response.status_code == 401
            return time.perf_counter() - start

        assert timed("nobody@example.com") and (counting.dummy, counting.real) == (1, 0)
        assert timed("ada@example.com") and (counting.dummy, counting.real) == (1, 1)
        # Interleaved, so a burst of load on a shared machine slows both series alike.
        pairs = [(timed("nobody@example.com"), timed("ada@example.com")) for _ in range(4)]
        unknown = statistics.median(u for u, _ in pairs)
        known = statistics.median(k for _, k in pairs)
        # Without the dummy check an unknown e-mail answers in a fraction of the time.
        assert unknown > known * 0.5


# -- garbage in, 4xx out ------------------------------------------------------------------------
GARBAGE_AUTHORIZATION = [
    "Bearer",
    "Bearer ",
    "Bearer a.b",
    "Bearer a.b.c.d",
    "Bearer ....",
    "Bearer " + "A" * 9000,
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
    "Bearer eyJ$$$.eyJ%%%.sig",
    "Bearer " + base64.urlsafe_b64encode(b"\xff\xfe" * 10).decode() + ".e30.",
]


@pytest.mark.parametrize("value", GARBAGE_AUTHORIZATION)
def test_garbage_tokens_are_401_problems(value: str) -> None:
    assert_problem(jwt_app().get("/me", headers={"Authorization": value}), 401)


def test_non_utf8_authorization_header_is_401() -> None:
    response = jwt_app().get("/me", headers={"Authorization": b"Bearer \xff\xfe\xfa.\x80.\x81"})
    assert_problem(response, 401)


def test_oversized_credentials_are_4xx() -> None:
    huge = jwt_app().get("/me", headers={"Authorization": "Bearer " + "A" * 70_000})
    assert 400 <= huge.status_code < 500
    assert huge.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "cookie", [b"session=\xff\xfe", b"session=" + b"A" * 9000, b"session=a.b.c", b"session"]
)
def test_garbage_session_cookies_are_anonymous_not_500(cookie: bytes) -> None:
    client = TestClient(session_app(), base_url="https://testserver")
    assert_problem(client.get("/me", headers={"cookie": cookie}), 401)


def test_login_and_reset_attempts_are_throttled_per_address_and_email(
    database_url: str, hasher: PasswordHasher
) -> None:
    """Password guessing: 5 attempts a minute for one e-mail from one address, then 429 with
    Retry-After; another account from the same address is unaffected."""
    app, _ = app_with_database(
        database_url, lambda db: [SessionPlugin(), AuthRoutes(hasher=hasher)]
    )
    with TestClient(app, base_url="https://testserver") as client:
        body = {"email": "ada@example.com", "username": "ada", "password": PASSWORD}
        assert client.post("/auth/register", json=body).status_code == 202  # signs nobody in
        guesses = [
            client.post("/auth/login", json={"email": "ADA@example.com ", "password": f"guess{n}"})
            for n in range(6)
        ]
        assert [g.status_code for g in guesses] == [401] * 5 + [429]
        assert int(guesses[-1].headers["retry-after"]) >= 1
        assert_problem(guesses[-1], 429)
        # the right password is refused too until the budget refills: that is the point
        right = {"email": "ada@example.com", "password": PASSWORD}
        assert client.post("/auth/login", json=right).status_code == 429
        other = {"email": "grace@example.com", "password": "whatever1"}
        assert client.post("/auth/login", json=other).status_code == 401
        resets = [
            client.post("/auth/password-reset", json={"email": "ada@example.com"}) for _ in range(6)
        ]
        assert [r.status_code for r in resets] == [202] * 5 + [429]
        assert (
            client.post(
                "/auth/login", content=b"{not json", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
