"""Credentials a browser sends by itself are checked for CSRF, with or without cookies.

After a login prompt a browser remembers Basic, Digest, Negotiate and NTLM credentials and
attaches them to every request to that site, including the ones another site's page makes
it send: such a request is forgeable exactly like one with cookies. Only a token (Bearer,
Token, an API key) that a page cannot make the browser send exempts a request.
"""

import pytest

from bastion import App, Settings, WebSocket
from bastion.security import SecurityPlugin
from bastion.testing import TestClient
from bastion.testing.websocket import WebSocketDenied
from tests.security._apps import BASE, SECRET, client_with_token, csrf_app

EVIL = {"origin": "https://evil.example"}
AMBIENT = [
    "Basic dTpw",
    "basic dTpw",
    "BASIC dTpw",
    'Digest username="u", realm="r", nonce="n", uri="/json", response="x"',
    "digest username=u",
    "Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXag",
    "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==",
    "nTlM TlRMTVNTUAAB",
    " Basic dTpw",  # leading whitespace
    "Basic\tdTpw",  # a tab instead of the space
    "Basic",  # the scheme alone
]


def reason(response) -> str:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["reason"]


def cookieless_client() -> TestClient:
    """A client that never received a cookie: only the Authorization header is ambient."""
    return TestClient(csrf_app(), base_url=BASE)


@pytest.mark.parametrize("authorization", AMBIENT)
def test_cross_origin_post_with_only_ambient_authorization_is_refused(authorization):
    client = cookieless_client()
    response = client.post("/json", json={}, headers={"authorization": authorization, **EVIL})
    assert reason(response) == "cross-origin"
    assert not client.cookies


@pytest.mark.parametrize("authorization", AMBIENT)
def test_ambient_authorization_without_a_token_is_refused_even_from_this_site(authorization):
    response = cookieless_client().post(
        "/json", json={}, headers={"authorization": authorization, "origin": BASE}
    )
    assert reason(response) == "missing"


def test_ambient_authorization_with_the_csrf_token_passes():
    client, token = client_with_token(csrf_app())
    headers = {"authorization": "Basic dTpw", "origin": BASE, "x-csrf-token": token}
    assert client.post("/json", json={"a": 1}, headers=headers).json() == {"got": {"a": 1}}


@pytest.mark.parametrize(
    "authorization", ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER abc", "Token k_1"]
)
def test_token_schemes_in_any_case_are_not_checked(authorization):
    client = cookieless_client()
    response = client.post("/json", json={}, headers={"authorization": authorization, **EVIL})
    assert response.status_code == 201
    # and a token alongside cookies: the page could not have added it
    client, _ = client_with_token(csrf_app())
    assert (
        client.post("/json", json={}, headers={"authorization": authorization}).status_code == 201
    )


def test_api_key_header_is_a_token_whatever_it_holds():
    client, _ = client_with_token(csrf_app(csrf={"token_headers": ["authorization", "x-api-key"]}))
    assert client.post("/json", json={}, headers={"x-api-key": "basic-looking"}).status_code == 201


@pytest.mark.parametrize("authorization", ["", "   ", "\t"])
def test_a_blank_authorization_header_is_no_token(authorization):
    client, _ = client_with_token(csrf_app())
    response = client.post("/json", json={}, headers={"authorization": authorization})
    assert reason(response) == "missing"  # the cookies are still checked
    # with nothing ambient either, there is nothing to forge
    assert (
        cookieless_client()
        .post("/json", json={}, headers={"authorization": authorization})
        .status_code
        == 201
    )


def test_ambient_authorization_on_a_safe_method_is_not_checked():
    response = cookieless_client().get("/token", headers={"authorization": "Basic dTpw", **EVIL})
    assert response.status_code == 200


# -- WebSockets: the handshake guard shares the rule -------------------------------------
def socket_client() -> TestClient:
    app = App(settings=Settings(profile="test", secret_key=SECRET), plugins=[SecurityPlugin()])

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("welcome")
        await websocket.close()

    return TestClient(app)


@pytest.mark.parametrize("authorization", ["Basic dTpw", "negotiate YII=", "NTLM TlRM"])
def test_cross_origin_handshake_with_only_ambient_authorization_is_refused(authorization):
    with socket_client() as client, pytest.raises(WebSocketDenied) as denied:
        with client.websocket_connect("/ws", headers={"authorization": authorization, **EVIL}):
            pass
    assert denied.value.code == 1008
    assert "Cross-origin WebSocket refused" in denied.value.reason


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Basic dTpw", "origin": "http://testserver"},  # this site
        {"authorization": "Bearer abc", **EVIL},  # a token: not ambient
        {"authorization": "", **EVIL},  # blank: nothing to abuse
    ],
)
def test_same_site_token_and_blank_handshakes_are_accepted(headers):
    with socket_client() as client, client.websocket_connect("/ws", headers=headers) as ws:
        assert ws.receive_text() == "welcome"
