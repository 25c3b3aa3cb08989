import datetime

import jwt as pyjwt
import pytest

from bastion import App, ConfigurationError, Settings
from bastion.auth import AuthPlugin, CurrentUser, JWTAuth, JWTKey
from bastion.testing import TestClient
from tests.auth.conftest import SECRET

NEW = "new-signing-secret-0123456789abcdef"
OLD = "old-signing-secret-0123456789abcdef"


def app_for(tokens: JWTAuth, settings: Settings | None = None) -> App:
    app = App(settings=settings or Settings(profile="test"), plugins=[AuthPlugin(tokens)])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict:
        return {"sub": user.subject, "scopes": sorted(user.scopes or []), "via": user.backend}

    return app


def test_conduit_style_token_scheme() -> None:
    tokens = JWTAuth(secret=SECRET, scheme="Token")
    client = TestClient(app_for(tokens))
    token = tokens.encode({"sub": "42"})
    response = client.get("/me", headers={"Authorization": f"Token {token}"})
    assert response.json() == {"sub": "42", "scopes": [], "via": "jwt"}
    assert client.get("/me", headers={"Authorization": f"token {token}"}).status_code == 200
    refused = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Token"


def test_encoded_claims() -> None:
    tokens = JWTAuth(secret=SECRET, issuer="https://id.example", audience="api")
    token = tokens.encode({"sub": "1", "scope": "read write"})
    claims = pyjwt.decode(token, SECRET, algorithms=["HS256"], audience="api")
    assert claims["iss"] == "https://id.example" and claims["sub"] == "1"
    assert claims["exp"] - claims["iat"] == 3600
    assert "kid" not in pyjwt.get_unverified_header(token)
    client = TestClient(app_for(tokens))
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["scopes"] == ["read", "write"]


def test_encode_needs_a_subject() -> None:
    with pytest.raises(ValueError, match="sub"):
        JWTAuth(secret=SECRET).encode({"name": "x"})


def test_key_rotation_by_kid() -> None:
    before = JWTAuth(keys=[JWTKey("2025-01", OLD)])
    after = JWTAuth(keys=[JWTKey("2025-06", NEW), JWTKey("2025-01", OLD)])
    old_token, new_token = before.encode({"sub": "1"}), after.encode({"sub": "2"})
    assert pyjwt.get_unverified_header(new_token)["kid"] == "2025-06"
    client = TestClient(app_for(after))
    for token, sub in ((old_token, "1"), (new_token, "2")):
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert response.json()["sub"] == sub
    retired = JWTAuth(keys=[JWTKey("2025-06", NEW)])
    gone = TestClient(app_for(retired)).get("/me", headers={"Authorization": f"Bearer {old_token}"})
    assert gone.status_code == 401
    assert gone.json()["detail"] == "The token is signed with an unknown key"


def test_leeway_tolerates_small_clock_skew() -> None:
    tokens = JWTAuth(secret=SECRET)
    token = tokens.encode({"sub": "1"}, expires_in=datetime.timedelta(seconds=-10))
    client = TestClient(app_for(tokens))
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    strict = TestClient(app_for(JWTAuth(secret=SECRET, leeway=datetime.timedelta(0))))
    assert strict.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_key_derived_from_the_secret_key_at_start_up() -> None:
    tokens = JWTAuth()
    app = app_for(tokens, Settings(profile="test", secret_key=SECRET))
    token = tokens.encode({"sub": "9"})
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, SECRET, algorithms=["HS256"])  # derived, not the raw secret
    response = TestClient(app).get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["sub"] == "9"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: app_for(JWTAuth()), "JWTAuth needs a key"),
        (lambda: JWTAuth(secret="short"), "at least 32 bytes"),
        (lambda: JWTAuth(keys=[JWTKey("a", SECRET, algorithm="none")]), "never 'none'"),
        (lambda: JWTAuth(secret=SECRET, keys=[JWTKey("a", SECRET)]), "not both"),
        (lambda: JWTAuth(keys=[JWTKey("a", SECRET), JWTKey("a", NEW)]), "unique"),
        (lambda: JWTAuth(secret=SECRET, scheme="Bearer token"), "a word"),
    ],
)
def test_misconfiguration_fails_at_start_up(make: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make()  # type: ignore[operator]


def test_asymmetric_keys_need_cryptography() -> None:
    if "RS256" in pyjwt.algorithms.get_default_algorithms():
        pytest.skip("cryptography is installed")
    with pytest.raises(ConfigurationError, match="pip install cryptography"):
        JWTAuth(keys=[JWTKey("rsa", "public pem", algorithm="RS256")])


def test_a_single_secret_refuses_a_token_that_names_a_kid() -> None:
    """A single secret signs without a kid; a token naming one (even signed with that very
    secret) was not issued here and is refused, as the docs say of an unknown key."""
    tokens = JWTAuth(secret=SECRET)
    client = TestClient(app_for(tokens))
    for kid in ("no-such-key", "../../dev/null", ""):
        token = pyjwt.encode(
            {"sub": "1", "exp": 2**40}, SECRET, algorithm="HS256", headers={"kid": kid}
        )
        refused = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
        assert refused.json()["detail"] == "The token is signed with an unknown key"
    assert (
        client.get(
            "/me", headers={"Authorization": f"Bearer {tokens.encode({'sub': '1'})}"}
        ).status_code
        == 200
    )


def test_a_header_seen_before_still_needs_a_good_signature() -> None:
    """JWTAuth remembers which key a header names; each token is still verified whole."""
    tokens = JWTAuth(keys=[JWTKey("2025-06", NEW), JWTKey("2025-01", OLD)])
    client = TestClient(app_for(tokens))
    good = tokens.encode({"sub": "1"})
    forged = pyjwt.encode(
        {"sub": "2", "exp": 2**40}, "another-secret-0123456789abcdef01", headers={"kid": "2025-06"}
    )
    assert forged.partition(".")[0] == good.partition(".")[0]  # the same header text
    for _ in range(2):
        assert client.get("/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        assert client.get("/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    old = JWTAuth(keys=[JWTKey("2025-01", OLD)]).encode({"sub": "3"})
    assert client.get("/me", headers={"Authorization": f"Bearer {old}"}).json()["sub"] == "3"


def test_a_remembered_token_still_expires() -> None:
    """Verified tokens are remembered until their exp, not past it (leeway 0 here)."""
    import time

    from bastion.exceptions import Unauthorized

    tokens = JWTAuth(secret=SECRET, leeway=datetime.timedelta(0))
    expires = int(time.time()) + 3
    token = pyjwt.encode({"sub": "7", "exp": expires}, SECRET)
    claims = tokens.decode(token)
    claims["sub"] = "changed by the caller"
    assert tokens.decode(token)["sub"] == "7"
    time.sleep(max(0.0, expires - time.time()) + 0.5)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.decode(token)
