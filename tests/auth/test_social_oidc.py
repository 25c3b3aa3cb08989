"""Social login end to end against a certified OpenID Connect provider: panva's
``oidc-provider`` (npm), run by tests/integration/node/oidc_provider.mjs on 127.0.0.1.

The app runs in the test client (http://testserver); it talks to the provider over real
HTTP (discovery, JWKS, token, userinfo). A plain httpx client plays the browser at the
provider: its interactions complete by themselves (login as the ``login_hint`` account,
consent), so the tests follow redirects until the provider sends the browser back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from bastion.auth import AuthPlugin, CurrentUser, SessionAuth, SessionPlugin
from bastion.auth.models import load_user
from bastion.auth.routes import AuthRoutes
from bastion.auth.social import OIDCProvider, SocialRoutes
from bastion.testing import TestClient
from tests._processes import accepts, free_port, missing, running
from tests.auth.conftest import app_with_database, sign_up

NODE_DIR = Path(__file__).resolve().parents[1] / "integration" / "node"
SECRET = "a-client-secret-of-the-test-relying-party"
CALLBACK = "http://testserver/auth/social/{}/callback"
#: Relying parties registered at the provider; the tampering ones get ID tokens whose claims
#: are changed after issue and signed again with the provider's key (or badly signed).
CLIENTS = {
    "acme": None,
    "acme-aud": {"aud": "someone-else"},
    "acme-iss": {"iss": "http://127.0.0.1:1/not-the-issuer"},
    "acme-nonce": {"nonce": "not-the-nonce-of-this-sign-in"},
    "acme-sig": {"signature": True},
}
ACCOUNTS = {
    "alice": {"email": "alice@example.com", "email_verified": True, "name": "Alice"},
    "bob": {"email": "bob@example.com", "email_verified": True, "name": "Bob"},
    "mallory": {"email": "bob@example.com", "email_verified": False, "name": "Mallory"},
    "nobody": {"email": "nobody@example.com", "email_verified": False, "name": "Nobody"},
}


def node_modules() -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("Node.js and npm are not installed")
    if not (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            missing(f"npm ci failed in {NODE_DIR}: {result.stderr[-2000:]}")


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    """The provider's issuer URL, with every client of CLIENTS registered."""
    node_modules()
    port = free_port()
    clients = [
        {
            "client_id": name,
            "client_secret": SECRET,
            "redirect_uris": [CALLBACK.format(name)],
            **({"tamper": tamper} if tamper else {}),
        }
        for name, tamper in CLIENTS.items()
    ]
    env = {
        "PATH": str(Path(shutil.which("node") or "node").parent),
        "PORT": str(port),
        "CLIENTS": json.dumps(clients),
        "ACCOUNTS": json.dumps(ACCOUNTS),
    }
    command = [shutil.which("node") or "node", "oidc_provider.mjs"]
    with running(
        command,
        ready=lambda: accepts(port),
        what="oidc-provider",
        cwd=NODE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def client(issuer: str, tmp_path: Path) -> Iterator[TestClient]:
    providers = {
        name: OIDCProvider(issuer=issuer, client_id=name, client_secret=SECRET) for name in CLIENTS
    }
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/social.db",
        lambda database: [
            SessionPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(throttle=None),
            SocialRoutes(providers=providers),
        ],
    )

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"email": user.email}

    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def authorize(
    client: TestClient,
    provider: str = "acme",
    account: str = "alice",
    edit: Callable[[dict[str, str]], None] | None = None,
    start: str | None = None,
    next: str | None = None,
) -> str:
    """Start a sign-in, let the provider log ``account`` in, and return the callback URL
    the provider sends the browser back to. ``edit`` changes the authorization request."""
    if start is None:
        params = {"login_hint": account, **({"next": next} if next else {})}
        started = client.get(f"/auth/social/{provider}/login", params=params)
    else:
        started = client.post(start)
    assert started.status_code == 303, started.text
    url = started.headers["location"]
    if edit is not None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        edit(query)
        url = urlunsplit(parts._replace(query=urlencode(query)))
    with httpx.Client() as browser:
        answer = browser.get(url)
        while answer.is_redirect:
            location = str(answer.url.join(answer.headers["location"]))
            if location.startswith("http://testserver/"):
                return location.removeprefix("http://testserver")
            answer = browser.get(location)
    raise AssertionError(f"the provider did not send the browser back: {answer.text[:500]}")


def refused(answer: httpx.Response, status: int, reason: str) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = answer.json()
    assert problem["reason"] == reason, problem
    return problem


def test_authorization_code_with_pkce_signs_in_and_creates_the_account(client: TestClient) -> None:
    started = client.get("/auth/social/acme/login", params={"next": "/me"})
    query = dict(parse_qsl(urlsplit(started.headers["location"]).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    assert query["redirect_uri"] == CALLBACK.format("acme")

    callback = authorize(client)
    assert client.get("/me").status_code == 401  # not before the callback
    answer = client.get(callback)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert client.get("/me").json() == {"email": "alice@example.com"}
    linked = client.get("/auth/social/accounts").json()
    assert [(a["provider"], a["email"]) for a in linked] == [("acme", "alice@example.com")]

    client.post("/auth/logout")
    assert client.get(authorize(client)).status_code == 303  # the same account again
    assert client.get("/me").json() == {"email": "alice@example.com"}
    assert len(client.get("/auth/social/accounts").json()) == 1


def test_a_tampered_state_is_refused(client: TestClient) -> None:
    callback = authorize(client)
    parts = urlsplit(callback)
    query = dict(parse_qsl(parts.query))
    query["state"] = query["state"][:-2] + ("AA" if not query["state"].endswith("AA") else "BB")
    forged = urlunsplit(parts._replace(query=urlencode(query)))
    problem = refused(client.get(forged), 400, "state")
    assert "start again" in str(problem["detail"])
    assert client.get("/me").status_code == 401
    refused(client.get(callback), 400, "state")  # the sign-in's secrets were used up


def test_a_callback_from_another_browser_is_refused(client: TestClient) -> None:
    callback = authorize(client)  # the attacker's sign-in, handed to a victim (login CSRF)
    client.cookies.clear()  # the victim's browser never started it
    refused(client.get(callback), 400, "state")
    assert client.get("/me").status_code == 401


def test_a_replayed_code_is_refused_by_the_provider(client: TestClient) -> None:
    callback = authorize(client)
    before = dict(client.cookies)  # the session still holding state and verifier
    assert client.get(callback).status_code == 303
    client.cookies.clear()
    client.cookies.update(before)
    problem = refused(client.get(callback), 400, "code")
    assert "already used" in str(problem["detail"])


def test_a_nonce_changed_in_the_authorization_request_is_refused(client: TestClient) -> None:
    def other_nonce(query: dict[str, str]) -> None:
        query["nonce"] = "a-nonce-the-attacker-chose-for-this-request"

    callback = authorize(client, edit=other_nonce)
    refused(client.get(callback), 400, "nonce")
    assert client.get("/me").status_code == 401


@pytest.mark.parametrize(
    ("provider", "reason", "words"),
    [
        ("acme-nonce", "nonce", "nonce"),
        ("acme-aud", "id_token", "aud"),
        ("acme-iss", "id_token", "iss"),
        ("acme-sig", "id_token", "signature"),
    ],
)
def test_an_id_token_with_wrong_claims_or_signature_is_refused(
    client: TestClient, provider: str, reason: str, words: str
) -> None:
    problem = refused(client.get(authorize(client, provider)), 400, reason)
    assert words in str(problem["detail"]) and problem["provider"] == provider
    assert client.get("/me").status_code == 401


def test_a_verified_email_links_the_existing_account(client: TestClient) -> None:
    new = {"email": "bob@example.com", "username": "bob", "password": "correct horse battery"}
    assert client.post("/auth/register", json=new).status_code == 202  # signs nobody in
    assert client.get("/me").status_code == 401
    assert client.get(authorize(client, account="bob")).status_code == 303
    assert client.get("/me").json() == {"email": "bob@example.com"}


def test_an_unverified_email_neither_links_nor_creates_and_reveals_nothing(
    client: TestClient,
) -> None:
    new = {"email": "bob@example.com", "username": "bob", "password": "correct horse battery"}
    assert client.post("/auth/register", json=new).status_code == 202  # signs nobody in
    taken = refused(client.get(authorize(client, account="mallory")), 403, "unverified_email")
    free = refused(client.get(authorize(client, account="nobody")), 403, "unverified_email")
    assert taken == free
    assert "link" in str(taken["detail"]) and client.get("/me").status_code == 401


def test_a_logged_in_user_links_and_unlinks_a_provider_account(client: TestClient) -> None:
    new = {"email": "carol@example.com", "username": "carol", "password": "correct horse battery"}
    assert sign_up(client, new).status_code == 200
    # mallory's e-mail is unverified: only the explicit, logged-in link step may link it
    callback = authorize(
        client, account="mallory", start="/auth/social/acme/link?login_hint=mallory"
    )
    assert client.get(callback).status_code == 303
    assert client.get("/me").json() == {"email": "carol@example.com"}
    assert [a["provider"] for a in client.get("/auth/social/accounts").json()] == ["acme"]
    client.post("/auth/logout")
    signed_in = client.get(authorize(client, account="mallory"))
    assert signed_in.status_code == 303, signed_in.text
    assert client.get("/me").json() == {"email": "carol@example.com"}

    assert client.delete("/auth/social/accounts/acme").status_code == 204
    assert client.delete("/auth/social/accounts/acme").status_code == 404
    client.post("/auth/logout")
    refused(client.get(authorize(client, account="mallory")), 403, "unverified_email")


def test_linking_an_account_that_belongs_to_someone_else_is_refused(client: TestClient) -> None:
    assert client.get(authorize(client, account="alice")).status_code == 303  # alice's now
    client.post("/auth/logout")
    new = {"email": "dave@example.com", "username": "dave", "password": "correct horse battery"}
    assert sign_up(client, new).status_code == 200
    callback = authorize(client, account="alice", start="/auth/social/acme/link?login_hint=alice")
    refused(client.get(callback), 409, "taken")


def test_the_only_sign_in_method_cannot_be_unlinked(client: TestClient) -> None:
    assert client.get(authorize(client)).status_code == 303
    answer = client.delete("/auth/social/accounts/acme")
    assert answer.status_code == 409 and answer.json()["reason"] == "last_sign_in_method"


def test_browsers_get_a_page_that_says_what_to_do(client: TestClient) -> None:
    callback = authorize(client)
    forged = callback.replace("state=", "state=x")
    page = client.get(forged, headers={"accept": "text/html"})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "start again" in page.text and "/auth/social/acme/login" in page.text


def test_an_unknown_provider_and_a_foreign_next_are_refused(client: TestClient) -> None:
    assert client.get("/auth/social/nope/login").status_code == 404
    assert client.get(authorize(client, next="/me")).headers["location"] == "/me"
    client.post("/auth/logout")
    for foreign in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = client.get(authorize(client, next=foreign))
        assert answer.headers["location"] == "/"  # never an open redirect
        client.post("/auth/logout")


def test_a_user_with_two_factor_on_must_still_prove_it_after_the_provider(
    issuer: str, tmp_path: Path
) -> None:
    """A provider proves who the user is, as a password does: the TOTP the user turned on
    must follow it, or a linked provider account would skip the second factor."""
    import pyotp

    from bastion.auth.two_factor_routes import TwoFactorRoutes

    providers = {"acme": OIDCProvider(issuer=issuer, client_id="acme", client_secret=SECRET)}
    app, _ = app_with_database(
        f"sqlite+aiosqlite:///{tmp_path}/social-2fa.db",
        lambda database: [
            SessionPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(throttle=None),
            TwoFactorRoutes(throttle=None),
            SocialRoutes(providers=providers),
        ],
    )

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"email": user.email}

    with TestClient(app, follow_redirects=False) as client:
        password = "correct horse battery"
        new = {"email": "bob@example.com", "username": "bob", "password": password}
        assert sign_up(client, new).status_code == 200
        secret = client.post("/auth/two-factor/enable", json={"password": password}).json()
        confirmed = client.post(
            "/auth/two-factor/confirm", json={"code": pyotp.TOTP(secret["secret"]).now()}
        )
        assert confirmed.status_code == 201, confirmed.text
        client.post("/auth/logout")

        answer = client.get(authorize(client, account="bob"))
        assert answer.status_code == 303
        assert answer.headers["location"] == "/#second_factor=totp%2Crecovery_code"
        assert client.get("/me").status_code == 401  # half signed in: no rights yet
        code = confirmed.json()["recovery_codes"][0]
        done = client.post("/auth/two-factor/challenge", json={"recovery_code": code})
        assert done.status_code == 200, done.text
        assert client.get("/me").json() == {"email": "bob@example.com"}
