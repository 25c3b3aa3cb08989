"""Attacks, each with its precise expected outcome: CSRF, XSS, open redirects, cookie theft,
timing oracles, missing headers, floods, and hostile input that must never cause a 500."""

import hmac
import re

import pytest

from bastion import App, Request, Settings
from bastion.security import RateLimit, SecurityPlugin, safe_next
from bastion.security._csrf_tokens import CSRFTokens
from bastion.testing import TestClient
from tests.security._apps import BASE, SECRET, client_with_token, csrf_app, templated_app


def problem(response, status: int, reason: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    if reason is not None:
        assert body["reason"] == reason
    return body


def form_page(client: TestClient) -> str:
    """The token a browser would find in the rendered form."""
    html = client.get("/form").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


# -- CSRF ----------------------------------------------------------------------------------


def test_csrf_form_rendered_by_a_template_round_trips(tmp_path):
    client = TestClient(templated_app(tmp_path), base_url=BASE)
    token = form_page(client)
    response = client.post("/comment", data={"text": "hi", "csrf_token": token})
    assert response.status_code == 201


def test_csrf_missing_token(tmp_path):
    client = TestClient(templated_app(tmp_path), base_url=BASE)
    form_page(client)
    body = problem(client.post("/comment", data={"text": "hi"}), 403, "missing")
    assert body["detail"] == (
        "CSRF token missing: send csrf_token() in the csrf_token form field or the "
        "X-CSRF-Token header"
    )


def test_csrf_missing_cookie_on_a_session_authenticated_post():
    client = TestClient(csrf_app(), base_url=BASE, cookies={"session": "stolen-by-the-browser"})
    _, token = client_with_token(csrf_app())  # a token the attacker obtained for himself
    body = problem(client.post("/comment", data={"text": "x", "csrf_token": token}), 403, "missing")
    assert body["detail"].startswith("CSRF cookie missing")


def _flip_first(text: str) -> str:
    return ("A" if text[0] != "A" else "B") + text[1:]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: _flip_first(t.rsplit(".", 1)[0]) + "." + t.rsplit(".", 1)[1],  # payload
        # The signature's first character: its last one carries bits that base64 ignores.
        lambda t: t.rsplit(".", 1)[0] + "." + _flip_first(t.rsplit(".", 1)[1]),
        lambda t: t.rsplit(".", 1)[0],  # signature removed
        lambda t: "x" * len(t),
    ],
)
def test_csrf_wrong_token(tamper, tmp_path):
    client = TestClient(templated_app(tmp_path), base_url=BASE)
    token = form_page(client)
    response = client.post("/comment", data={"text": "hi", "csrf_token": tamper(token)})
    problem(response, 403, "wrong")


def test_csrf_cross_origin_post_with_a_valid_token(tmp_path):
    client = TestClient(templated_app(tmp_path), base_url=BASE)
    token = form_page(client)
    response = client.post(
        "/comment", data={"text": "hi", "csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    body = problem(response, 403, "cross-origin")
    assert "https://evil.example" in body["detail"]
    response = client.post(
        "/comment", data={"text": "hi", "csrf_token": token}, headers={"referer": "https://evil.example/x"}
    )
    problem(response, 403, "cross-origin")


def test_csrf_refusal_carries_the_security_headers():
    client, _ = client_with_token(csrf_app())
    response = client.post("/json", json={})
    assert response.status_code == 403
    assert response.headers["x-frame-options"] == "DENY"


# -- XSS -----------------------------------------------------------------------------------

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</p><iframe src=javascript:alert(1)>",
    "<scr<script>ipt>alert(1)</script>",
    "&lt;script&gt;",  # already-escaped text is escaped again, not trusted
    "{{ 7*7 }}",  # data is never evaluated as a template
]


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads_come_out_escaped(payload, tmp_path):
    response = TestClient(templated_app(tmp_path), base_url=BASE).get("/echo", params={"value": payload})
    html = response.text
    assert "<script" not in html and "<img" not in html and "<svg" not in html and "<iframe" not in html
    escaped = (payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
               .replace('"', "&#34;").replace("'", "&#39;"))
    assert html == f"<p>{escaped}</p><a title='{escaped}'>x</a><a title=\"{escaped}\">y</a>"
    assert "49" not in html


def test_even_if_html_slips_through_inline_scripts_without_the_nonce_are_blocked(tmp_path):
    response = TestClient(templated_app(tmp_path), base_url=BASE).get("/echo", params={"value": "x"})
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp


# -- Open redirects ------------------------------------------------------------------------

OPEN_REDIRECTS = [
    "https://evil.example",
    "http://evil.example/path",
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "javascript://%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https:evil.example",
    "http:/evil.example",
    "evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/%0D%0ALocation:%20https://evil.example",
    "/%252F%252Fevil.example",  # double-encoded
    "/%25252F%25252Fevil.example",  # triple-encoded
    "/\x00/evil.example",
    "/\x7f",
    "/\u3002evil.example",  # non-ASCII
    "/\uff0f\uff0fevil.example",  # fullwidth solidus
    "https://testserver.evil.example/",
    "https://testserver@evil.example/",
    "http://evil.example\\@testserver/",
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("payload", OPEN_REDIRECTS)
def test_open_redirect_attempts_fall_back_to_the_default(payload):
    scope = {"type": "http", "method": "GET", "path": "/login", "scheme": "http",
             "headers": [(b"host", b"testserver")], "query_string": b""}
    assert safe_next(Request(scope, None), payload, default="/home") == "/home"


# -- Cookies -------------------------------------------------------------------------------


def csrf_cookie(profile: str) -> str:
    response = TestClient(csrf_app(profile=profile), base_url=BASE).get("/token")
    return response.headers["set-cookie"]


def test_csrf_cookie_flags_outside_dev():
    cookie = csrf_cookie("prod")
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert cookie.startswith("csrftoken=")
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "SameSite=Lax"
    assert attributes["path"] == "Path=/"
    assert "domain" not in attributes  # host-only: sibling subdomains never see it


def test_csrf_cookie_is_not_secure_in_dev_so_http_localhost_works():
    cookie = csrf_cookie("dev")
    assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# -- Timing-safe comparisons ---------------------------------------------------------------


def test_token_checks_compare_in_constant_time(monkeypatch):
    """Every secret comparison goes through hmac.compare_digest: both signatures (inside
    itsdangerous) and the unmasked token against the cookie's secret."""
    client, token = client_with_token(csrf_app())
    _, other = client_with_token(csrf_app())
    secret = CSRFTokens(SECRET, None).read_cookie(client.cookies["csrftoken"])
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    # Validly signed, but made for another browser's secret: only the last comparison fails.
    assert client.post("/json", json={}, headers={"x-csrf-token": other}).status_code == 403
    assert len(calls) == 3  # cookie signature, token signature, secret
    assert secret in calls[-1]
    calls.clear()
    assert client.post("/json", json={}, headers={"x-csrf-token": token}).status_code == 201
    assert len(calls) == 3 and calls[-1][1] == secret and real(*calls[-1])


def test_a_near_miss_and_a_far_miss_get_the_same_answer():
    client, token = client_with_token(csrf_app())
    # one character of the signature changed; not the last one, whose low bits base64
    # discards (changing it can leave the signature intact)
    at = token.rindex(".") + 1
    near = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    far = "A" * len(token)
    first = client.post("/json", json={}, headers={"x-csrf-token": near})
    second = client.post("/json", json={}, headers={"x-csrf-token": far})
    assert first.json() == second.json()


# -- Headers and floods --------------------------------------------------------------------


def test_security_headers_on_every_page(tmp_path):
    headers = TestClient(templated_app(tmp_path), base_url=BASE).get("/form").headers
    assert headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "object-src 'none'" in headers["content-security-policy"]
    assert "camera=()" in headers["permissions-policy"]


def test_login_flood_gets_429_with_headers():
    app = App(settings=Settings(profile="test", secret_key=SECRET), plugins=[SecurityPlugin(csrf=False)])
    app.post("/login", middleware=[RateLimit("5/minute", name="login")])(lambda: "ok")
    client = TestClient(app)
    statuses = [client.post("/login").status_code for _ in range(8)]
    assert statuses == [201] * 5 + [429] * 3
    refused = client.post("/login")
    body = problem(refused, 429)
    assert body["retry_after"] == int(refused.headers["retry-after"]) == 12
    assert refused.headers["ratelimit-limit"] == "5"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) == 60


# -- Hostile input never gives a 500 -------------------------------------------------------

BAD_TOKENS = [
    "", " ", ".", "..", "a.b.c", "x" * 10_000, "\u00e9\u00e8", "\x00", "a" * 255 + ".",
    "eyJhbGciOiJub25lIn0.e30.", "%00", "'; DROP TABLE users; --", "../../etc/passwd",
]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_garbage_form_tokens_are_403_never_500(token):
    client, _ = client_with_token(csrf_app())
    response = client.post("/comment", data={"text": "x", "csrf_token": token})
    problem(response, 403)
    assert response.json()["reason"] in ("missing", "wrong")


@pytest.mark.parametrize(
    "value", [b"\xff\xfe\xfd", "\u0442\u0435\u0441\u0442".encode(), b"x" * 8000, b"a.b", b"\x7f"]
)
def test_garbage_header_tokens_are_403_never_500(value):
    client, _ = client_with_token(csrf_app())
    response = client.post("/json", json={}, headers={"x-csrf-token": value})
    problem(response, 403)


@pytest.mark.parametrize("cookie", ["csrftoken=", "csrftoken=\u00ff\u00fe", "csrftoken=" + "a" * 5000,
                                    "csrftoken=a.b", 'csrftoken="', "csrftoken=..;csrftoken=x"])
def test_garbage_cookies_are_403_never_500(cookie):
    client = TestClient(csrf_app(), base_url=BASE)
    response = client.post("/json", json={}, headers={"cookie": cookie.encode("latin-1"), "x-csrf-token": "x"})
    problem(response, 403)


@pytest.mark.parametrize(
    "headers, body",
    [
        ({"content-type": "multipart/form-data"}, b"--x\r\n"),  # no boundary
        ({"content-type": "multipart/form-data; boundary=x"}, b"--x\r\ngarbage"),
        ({"content-type": "application/x-www-form-urlencoded"}, b"csrf_token=%ff%fe"),
        ({"content-type": "application/x-www-form-urlencoded"}, b"a=" + b"x" * (2 * 1024 * 1024)),
        ({"content-type": "application/x-www-form-urlencoded", "content-length": "abc"}, b"x=1"),
    ],
)
def test_unreadable_forms_are_4xx_never_500(headers, body):
    client, _ = client_with_token(csrf_app())
    response = client.post("/comment", content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": b"\xff\xfe"}, {"origin": b"https://[::1"}, {"referer": b"http://[bad"},
        {"referer": b"\x00"}, {"origin": b""}, {"referer": b"//"}, {"host": b"\xff", "origin": b"https://testserver"},
    ],
)
def test_hostile_origin_and_referer_are_403_never_500(headers):
    client, token = client_with_token(csrf_app())
    response = client.post("/json", json={}, headers={"x-csrf-token": token, **headers})
    problem(response, 403, "cross-origin")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-for": b"\xff\xfe, 1.1.1.1"}, {"x-forwarded-for": b"," * 1000},
        {"x-forwarded-proto": b"\x00"}, {"x-forwarded-host": b"\xff"},
        {"x-forwarded-for": "1.1.1.1, " * 200},
    ],
)
def test_hostile_forwarded_headers_never_500(headers):
    plugin = SecurityPlugin(trusted_proxies=["127.0.0.1"])
    app = App(settings=Settings(profile="test"), plugins=[plugin], middleware=[RateLimit("100/minute")])
    app.get("/")(lambda: "ok")
    assert TestClient(app).get("/", headers=headers).status_code == 200
