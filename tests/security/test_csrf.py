import pytest

from bastion import App, Request, Router, Settings
from bastion.exceptions import ConfigurationError
from bastion.security import CSRF, csrf_token, rotate_csrf_token
from bastion.security._csrf_tokens import CSRFTokens
from bastion.testing import TestClient
from tests.security._apps import BASE, SECRET, client_with_token, csrf_app


def reason(response) -> str:
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["reason"]


def test_form_post_with_token_passes_and_the_handler_still_reads_form_and_body():
    client, token = client_with_token(csrf_app())
    response = client.post("/comment", data={"text": "hello", "csrf_token": token})
    assert response.status_code == 201
    assert response.json() == {"text": "hello", "body_bytes": len(f"text=hello&csrf_token={token}")}


def test_multipart_form_with_token_passes_and_keeps_the_body():
    client, token = client_with_token(csrf_app())
    response = client.post(
        "/comment", data={"text": "hi", "csrf_token": token}, files={"f": ("a.txt", b"abc")}
    )
    assert response.status_code == 201
    assert response.json()["text"] == "hi"
    assert response.json()["body_bytes"] > 100


def test_header_token_passes_for_json():
    client, token = client_with_token(csrf_app())
    response = client.post("/json", json={"a": 1}, headers={"x-csrf-token": token})
    assert response.status_code == 201
    assert response.json() == {"got": {"a": 1}}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_unsafe_method_is_checked(method):
    client, _ = client_with_token(csrf_app())
    path = "/json" if method in ("POST", "PATCH") else "/item"
    response = client.request(method, path)
    assert response.status_code == 403
    assert reason(response) == "missing"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_are_not_checked(method):
    client, _ = client_with_token(csrf_app())
    assert client.request(method, "/token").status_code in (200, 204)


def test_each_token_is_different_but_all_match_the_cookie():
    client, first = client_with_token(csrf_app())
    second = client.get("/token").json()["token"]
    assert first != second  # masked per render: nothing for a compression oracle to learn
    assert client.post("/json", json={}, headers={"x-csrf-token": first}).status_code == 201
    assert client.post("/json", json={}, headers={"x-csrf-token": second}).status_code == 201


def test_cookie_is_set_once_and_then_reused():
    client = TestClient(csrf_app(), base_url=BASE)
    assert "set-cookie" in client.get("/token").headers
    assert "set-cookie" not in client.get("/token").headers


def test_requests_without_cookies_are_not_checked():
    client = TestClient(csrf_app(), base_url=BASE)
    assert client.post("/json", json={"a": 1}).status_code == 201


def test_bearer_and_api_key_requests_are_not_checked():
    client, _ = client_with_token(csrf_app())
    response = client.post("/json", json={}, headers={"authorization": "Bearer abc.def.ghi"})
    assert response.status_code == 201
    response = client.post("/json", json={}, headers={"authorization": "Token k_123"})
    assert response.status_code == 201


def test_basic_auth_is_ambient_like_cookies_and_is_checked():
    client, _ = client_with_token(csrf_app())
    response = client.post("/json", json={}, headers={"authorization": "Basic dTpw"})
    assert response.status_code == 403
    assert reason(response) == "missing"


def test_configured_token_header_exempts_api_key_requests():
    client, _ = client_with_token(csrf_app(csrf={"token_headers": ["authorization", "x-api-key"]}))
    assert client.post("/json", json={}, headers={"x-api-key": "k"}).status_code == 201


def test_exempt_paths_are_not_checked():
    client, _ = client_with_token(csrf_app(csrf={"exempt_paths": ["/webhooks/"]}))
    assert client.post("/webhooks/stripe").status_code == 201
    assert client.post("/json", json={}).status_code == 403


def test_same_origin_and_trusted_origins_pass():
    client, token = client_with_token(
        csrf_app(csrf={"trusted_origins": ["https://app.example.com"]})
    )
    for origin in ("https://testserver", "https://TESTSERVER:443", "https://app.example.com"):
        response = client.post("/json", json={}, headers={"x-csrf-token": token, "origin": origin})
        assert response.status_code == 201, origin
    response = client.post(
        "/json", json={}, headers={"x-csrf-token": token, "referer": "https://testserver/page?x=1"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://testserver"},  # downgraded scheme
        {"origin": "https://testserver.evil.com"},
        {"origin": "https://testserver:8443"},
        {"origin": "null"},
        {"referer": "https://evil.com/testserver"},
        {"referer": "https://testserver@evil.com/"},
    ],
)
def test_other_origins_are_refused_even_with_a_valid_token(headers):
    client, token = client_with_token(csrf_app())
    response = client.post("/json", json={}, headers={"x-csrf-token": token, **headers})
    assert response.status_code == 403
    assert reason(response) == "cross-origin"


def test_expired_token_is_refused():
    client, token = client_with_token(csrf_app(csrf={"token_max_age": -1}))
    response = client.post("/json", json={}, headers={"x-csrf-token": token})
    assert response.status_code == 403
    assert reason(response) == "expired"


def test_token_made_for_another_browser_is_wrong():
    client, _ = client_with_token(csrf_app())
    _, foreign_token = client_with_token(csrf_app())  # same key, another browser's secret
    response = client.post("/json", json={}, headers={"x-csrf-token": foreign_token})
    assert response.status_code == 403
    assert reason(response) == "wrong"


def test_token_signed_with_another_key_is_wrong():
    client, _ = client_with_token(csrf_app())
    tokens = CSRFTokens("o" * 40, None)
    response = client.post(
        "/json", json={}, headers={"x-csrf-token": tokens.token(tokens.new_secret())}
    )
    assert response.status_code == 403
    assert reason(response) == "wrong"


def test_cookie_signed_with_another_key_is_wrong():
    client, token = client_with_token(csrf_app())
    tokens = CSRFTokens("o" * 40, None)
    client.cookies.set(
        "csrftoken", tokens.cookie_value(tokens.new_secret()), domain="testserver.local"
    )
    response = client.post("/json", json={}, headers={"x-csrf-token": token})
    assert response.status_code == 403
    assert reason(response) == "wrong"


def test_rotation_issues_a_new_cookie_and_old_tokens_stop_working():
    app = csrf_app()

    @app.post("/login")
    async def login(request: Request) -> dict[str, str]:
        rotate_csrf_token(request)
        return {"token": csrf_token(request)}

    client, old = client_with_token(app)
    response = client.post("/login", headers={"x-csrf-token": old})
    assert response.status_code == 201
    assert "csrftoken=" in response.headers["set-cookie"]
    new = response.json()["token"]
    assert client.post("/json", json={}, headers={"x-csrf-token": new}).status_code == 201
    refused = client.post("/json", json={}, headers={"x-csrf-token": old})
    assert refused.status_code == 403 and reason(refused) == "wrong"


def test_route_level_csrf_protects_only_its_router():
    app = App(settings=Settings(profile="test"))
    guarded = Router("/forms", middleware=[CSRF(SECRET, cookie_secure=False)])

    @guarded.post("/send")
    async def send() -> str:
        return "sent"

    @app.post("/open")
    async def open_() -> str:
        return "open"

    app.include(guarded)
    client = TestClient(app, cookies={"session": "1"})
    assert client.post("/open").status_code == 201
    assert client.post("/forms/send").status_code == 403


def test_misconfiguration_fails_at_construction():
    with pytest.raises(ConfigurationError, match="secret key"):
        CSRF(None)
    with pytest.raises(ConfigurationError, match="not an origin"):
        CSRF(SECRET, trusted_origins=["app.example.com"])
    with pytest.raises(ConfigurationError, match="Secure"):
        CSRF(SECRET, cookie_samesite="none", cookie_secure=False)


def test_csrf_token_without_the_middleware_says_what_to_add():
    app = App(settings=Settings(profile="test"))

    @app.get("/t")
    async def t(request: Request) -> str:
        return csrf_token(request)

    with pytest.raises(ConfigurationError, match="SecurityPlugin"):
        TestClient(app).get("/t")


@pytest.mark.parametrize("profile", ["dev", "test"])
def test_the_cookie_is_not_secure_outside_prod_so_a_test_over_http_can_post(profile):
    client = TestClient(csrf_app(profile))  # http://testserver, as tests are written
    response = client.get("/token")
    assert "Secure" not in response.headers["set-cookie"]
    token = response.json()["token"]
    assert client.post("/json", json={}, headers={"x-csrf-token": token}).status_code == 201
