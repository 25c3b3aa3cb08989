"""A hostile-input probe: a few hundred malformed, forged and abusive requests against the
kitchen-sink app (tests/hostile/app.py) and Conduit, in-process.

Every answer must be below 500, carry no traceback text and, for an error, be an RFC 9457
problem+json document (Conduit's own error shape excepted); where the docs promise a status,
a field or a reason, that is what must come back, and what the docs say is refused must be.
Nothing may be logged as unhandled (conftest.py) and nothing may hang: every WebSocket
receive and every raw ASGI call has a short timeout.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterable
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from bastion.testing import TestClient
from bastion.testing._transport import CLIENT
from bastion.testing.websocket import WebSocketDenied
from bastion.websockets import WebSocketDisconnect
from tests.hostile.app import JWT_SECRET, MANAGEMENT_TOKEN, MAX_BODY, TRUSTED_ORIGIN, tokens

PROBLEM = "application/problem+json"
TRACES = ("Traceback", 'File "')
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


# -- checks ---------------------------------------------------------------------------------
def safe(response: httpx.Response, *, problem: bool = True) -> None:
    """No 5xx, no traceback; an error is a problem document (``problem=False``: any shape)."""
    text = response.content.decode("utf-8", "replace")
    assert response.status_code < 500, f"{response.status_code}: {text[:800]}"
    for marker in TRACES:
        assert marker not in text, text[:800]
    if problem and response.status_code >= 400:
        assert response.headers.get("content-type") == PROBLEM, (response.status_code, text[:300])
        document = response.json()
        assert document["status"] == response.status_code and document["title"], document
        for error in document.get("errors", []):
            assert error["field"] and error["reason"], error


def expect(response: httpx.Response, status: int | tuple[int, ...], names: str | None = None) -> None:
    """``status`` (one, or any of several) with, for errors, ``names`` in a field, the
    detail or the reason of the problem document."""
    safe(response)
    allowed = status if isinstance(status, tuple) else (status,)
    assert response.status_code in allowed, f"{response.status_code}: {response.text[:500]}"
    if names is not None:
        document = response.json()
        fields = [e["field"] for e in document.get("errors", [])]
        seen = [*fields, document.get("detail", ""), document.get("reason", "")]
        assert any(names in str(item) for item in seen), document


class Raw:
    """One ASGI exchange with a hand-made scope, for what httpx will not send (bytes that are
    not UTF-8 in headers, odd methods, paths as a server decodes them)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(
        self,
        method: str = "GET",
        path: str = "/",
        *,
        headers: Iterable[tuple[bytes, bytes]] = (),
        query: bytes = b"",
        body: Iterable[bytes] = (b"",),
        host: bytes | None = b"testserver",
        scheme: str = "https",
        http_version: str = "1.1",
        leave: bool = False,
    ) -> httpx.Response:
        """``leave``: the client goes away once the response starts (for endless streams)."""
        raw_headers = [(b"host", host)] if host is not None else []
        raw_headers += [(k.lower(), v) for k, v in headers]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": http_version,
            "scheme": scheme,
            "method": method,
            "path": path,
            "raw_path": path.encode("utf-8", "surrogateescape"),
            "query_string": query,
            "root_path": "",
            "headers": raw_headers,
            "client": CLIENT,
            "server": ("testserver", 443),
            "state": dict(self.client._asgi.inner.state or {}),
        }
        return self.client.portal.call(_exchange(self.client.app, scope, list(body), leave), timeout=5)


async def _exchange(app: Any, scope: dict[str, Any], chunks: list[bytes], leave: bool) -> httpx.Response:
    sent: list[dict[str, Any]] = []
    pending = list(chunks)
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()
        elif message["type"] == "http.response.start" and leave:
            done.set()

    await asyncio.wait_for(app(scope, receive, send), timeout=4)
    done.set()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
    return httpx.Response(start["status"], headers=headers, content=body)


@pytest.fixture
def raw(client: TestClient) -> Raw:
    return Raw(client)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def b64(data: dict[str, Any] | bytes) -> str:
    raw_bytes = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw_bytes).rstrip(b"=").decode()


NOW = int(time.time())
GOOD_TOKEN = tokens.encode({"sub": "1"})
AUTH = bearer(GOOD_TOKEN)
OTHER_SECRET = "a-different-secret-of-at-least-32-bytes!!"


def _signed(claims: dict[str, Any], secret: str = JWT_SECRET, **headers: Any) -> str:
    return pyjwt.encode(claims, secret, algorithm="HS256", headers=headers or None)


FORGED_TOKENS = {
    "wrong-secret": _signed({"sub": "1", "exp": NOW + 600}, OTHER_SECRET),
    "expired": _signed({"sub": "1", "exp": NOW - 3600}),
    "alg-none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': '1', 'exp': NOW + 600})}.",
    "alg-none-signed": f"{b64({'alg': 'none'})}.{b64({'sub': '1', 'exp': NOW + 600})}.{b64(b'x')}",
    "alg-none-kid": _signed({"sub": "1", "exp": NOW + 600}).replace(
        _signed({"sub": "1", "exp": NOW + 600}).split(".")[0], b64({"alg": "none", "kid": "default"})
    ),
    "wrong-kid": _signed({"sub": "1", "exp": NOW + 600}, kid="no-such-key"),
    "kid-traversal": _signed({"sub": "1", "exp": NOW + 600}, kid="../../../../dev/null"),
    "kid-not-string": f"{b64({'alg': 'HS256', 'kid': 5})}.{b64({'sub': '1', 'exp': NOW + 600})}.{b64(b'sig')}",
    "rs256-header": f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64({'sub': '1', 'exp': NOW + 600})}.{b64(b'sig')}",
    "no-exp": _signed({"sub": "1"}),
    "no-sub": _signed({"exp": NOW + 600}),
    "sub-int": _signed({"sub": 1, "exp": NOW + 600}),
    "sub-object": _signed({"sub": {"id": 1}, "exp": NOW + 600}),
    "exp-string": _signed({"sub": "1", "exp": "tomorrow"}),
    "exp-float-nan": ".".join([b64({"alg": "HS256", "typ": "JWT"}), b64(b'{"sub":"1","exp":NaN}'), b64(b"sig")]),
    "nbf-future": _signed({"sub": "1", "exp": NOW + 7200, "nbf": NOW + 3600}),
    "iat-garbage": _signed({"sub": "1", "exp": NOW + 600, "iat": "yesterday"}),
    "two-segments": "a.b",
    "four-segments": "a.b.c.d",
    "not-base64": "!!!.@@@.###",
    "header-array": f"{b64(b'[1,2]')}.{b64({'sub': '1'})}.{b64(b'sig')}",
    "header-not-json": f"{b64(b'{oops')}.{b64({'sub': '1'})}.{b64(b'sig')}",
    "payload-not-json": ".".join([b64({"alg": "HS256"}), b64(b"\xff\xfe"), b64(b"sig")]),
    "payload-array": _signed({"sub": "1", "exp": NOW + 600}).split(".")[0] + f".{b64(b'[]')}.x",
    "empty": "",
    "spaces": "   ",
    "huge": "a" * 9000,
    "crit-header": _signed({"sub": "1", "exp": NOW + 600}, crit=["exp"]),
    "tampered-payload": ".".join(
        [GOOD_TOKEN.split(".")[0], b64({"sub": "2", "exp": NOW + 600}), GOOD_TOKEN.split(".")[2]]
    ),
}


@pytest.mark.parametrize("name", FORGED_TOKENS)
def test_forged_jwt_is_refused_with_401(client: TestClient, name: str) -> None:
    response = client.get("/me", headers=bearer(FORGED_TOKENS[name]))
    expect(response, 401)
    assert "www-authenticate" in response.headers
    # An OptionalUser-style route that only guards by role refuses it too.
    expect(client.get("/admin", headers=bearer(FORGED_TOKENS[name])), 401)


def test_a_token_we_signed_with_absurd_claims_is_answered_safely(client: TestClient) -> None:
    """Signed with our own secret, so not a forgery: accepted or refused, never a 500."""
    for claims in ({"sub": "1", "exp": 10**30}, {"sub": "1", "exp": NOW + 600, "iat": -(10**30)},
                   {"sub": "1", "exp": NOW + 600, "nbf": 10**30}, {"sub": "1" * 5000, "exp": NOW + 600}):
        response = client.get("/me", headers=bearer(_signed(claims)))
        safe(response)
        assert response.status_code in (200, 401)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "bearer", "Bearer  x y", "Basic !!!", "Basic " + b64(b"ada:correct horse"),
     "Token " + GOOD_TOKEN, "Bearer\t" + GOOD_TOKEN, "Digest username=ada", "x" * 5000, ","],
)
def test_garbage_authorization_headers(client: TestClient, header: str) -> None:
    response = client.get("/me", headers={"authorization": header})
    expect(response, 401)


def test_good_token_and_role_guard(client: TestClient) -> None:
    expect(client.get("/me", headers=AUTH), 200)
    bob = bearer(tokens.encode({"sub": "2"}))
    expect(client.get("/admin", headers=bob), 403)
    expect(client.get("/me", headers=bearer(tokens.encode({"sub": "999"}))), 401)


# -- simple requests, table-driven ----------------------------------------------------------
LONG = "a" * 5000
DEEP = "/".join(["d"] * 600)

STATIC = [
    ("static-dotdot-literal", "GET", "/static/../secret.txt", {}, 404, None),
    ("static-encoded-dots", "GET", "/static/%2e%2e/secret.txt", {}, 404, None),
    ("static-encoded-slash", "GET", "/static/..%2fsecret.txt", {}, 404, None),
    ("static-encoded-all", "GET", "/static/%2e%2e%2fsecret.txt", {}, 404, None),
    ("static-double-encoded", "GET", "/static/%252e%252e%252fsecret.txt", {}, 404, None),
    ("static-backslash", "GET", "/static/..%5csecret.txt", {}, 404, None),
    ("static-backslash-deep", "GET", "/static/css/..%5c..%5csecret.txt", {}, 404, None),
    ("static-windows-drive", "GET", "/static/C:%5cWindows%5cwin.ini", {}, 404, None),
    ("static-unc", "GET", "/static/%5c%5cserver%5cshare", {}, 404, None),
    ("static-absolute", "GET", "/static//etc/passwd", {}, 404, None),
    ("static-absolute-encoded", "GET", "/static/%2fetc%2fpasswd", {}, 404, None),
    ("static-nul", "GET", "/static/index.html%00", {}, 404, None),
    ("static-nul-middle", "GET", "/static/index.html%00.css", {}, 404, None),
    ("static-overlong-utf8", "GET", "/static/%c0%ae%c0%ae/secret.txt", {}, 404, None),
    ("static-bad-utf8", "GET", "/static/%ff%fe", {}, 404, None),
    ("static-very-long-name", "GET", "/static/" + LONG, {}, 404, None),
    ("static-very-long-segment-ext", "GET", "/static/css/" + "b" * 300 + ".css", {}, 404, None),
    ("static-very-deep", "GET", "/static/" + DEEP, {}, 404, None),
    ("static-file-as-directory", "GET", "/static/index.html/x", {}, 404, None),
    ("static-file-trailing-slash", "GET", "/static/index.html/", {}, 404, None),
    ("static-directory", "GET", "/static/css", {}, (404, 301, 307, 308), None),
    ("static-root", "GET", "/static/", {}, (200, 404), None),
    ("static-windows-reserved", "GET", "/static/con", {}, 404, None),
    ("static-windows-stream", "GET", "/static/index.html::$DATA", {}, 404, None),
    ("static-dot-file", "GET", "/static/.env", {}, 404, None),
    ("static-symlink-out", "GET", "/static/link.txt", {}, 404, None),
    ("static-symlinked-dir-out", "GET", "/static/linkdir/secret.txt", {}, 404, None),
    ("static-symlinked-dir-back-in", "GET", "/static/linkdir/public/index.html", {}, (200, 404), None),
    ("static-tilde", "GET", "/static/~root", {}, 404, None),
    ("static-post", "POST", "/static/index.html", {}, 405, None),
    ("static-delete", "DELETE", "/static/index.html", {}, 405, None),
    ("static-range-garbage", "GET", "/static/index.html", {"headers": {"range": "bytes=abc"}}, (200, 416), None),
    ("static-range-unsatisfiable", "GET", "/static/index.html", {"headers": {"range": "bytes=999-"}}, 416, None),
    ("static-if-none-match-garbage", "GET", "/static/index.html", {"headers": {"if-none-match": '"\\'}}, 200, None),
    ("static-ims-garbage", "GET", "/static/index.html", {"headers": {"if-modified-since": "yesterday"}}, 200, None),
    ("static-ims-far-future", "GET", "/static/index.html", {"headers": {"if-modified-since": "Fri, 31 Dec 99999 23:59:59 GMT"}}, 200, None),
    ("static-ims-year-zero", "GET", "/static/index.html", {"headers": {"if-modified-since": "Sat, 01 Jan 0000 00:00:00 GMT"}}, 200, None),
    ("static-ifrange-garbage", "GET", "/static/index.html", {"headers": {"range": "bytes=0-1", "if-range": "garbage"}}, (200, 206), None),
]

RANGES = [
    "bytes=abc", "bytes=", "bytes=-", "bytes=5-2", "bytes=-0", "bytes=0-0,-0", "bytes=--1",
    "bytes=1-2-3", "bytes=99999999999999999999999999-", "bytes=-99999999999999999999999",
    "bytes=0-99999999999999999999999999", "items=0-1", "bytes=0-1," * 200, "bytes= 0 - 1 ",
    "bytes=0x10-0x20", "bytes=1e3-", "bytes=0-1;q=2", ",,,", "bytes=,",
    "bytes=-1-", "BYTES=0-1",
]

FILES = [
    *[(f"range-{i}", "GET", "/download", {"headers": {"range": value}}, (200, 206, 416), None)
      for i, value in enumerate(RANGES)],
    ("range-unsatisfiable", "GET", "/download", {"headers": {"range": "bytes=5000-6000"}}, 416, "1024 bytes"),
    ("if-none-match-garbage", "GET", "/download", {"headers": {"if-none-match": "garbage"}}, 200, None),
    ("if-none-match-star", "GET", "/download", {"headers": {"if-none-match": "*"}}, 304, None),
    ("if-none-match-huge-list", "GET", "/download", {"headers": {"if-none-match": '"a", ' * 2000}}, 200, None),
    ("if-none-match-unbalanced", "GET", "/download", {"headers": {"if-none-match": 'W/"abc'}}, 200, None),
    ("if-modified-since-garbage", "GET", "/download", {"headers": {"if-modified-since": "not a date"}}, 200, None),
    ("if-modified-since-overflow", "GET", "/download", {"headers": {"if-modified-since": "Mon, 01 Jan 99999 00:00:00 GMT"}}, 200, None),
    ("if-modified-since-numbers", "GET", "/download", {"headers": {"if-modified-since": "99999999999999999999"}}, 200, None),
    ("if-unmodified-since-garbage", "GET", "/download", {"headers": {"if-unmodified-since": "garbage"}}, (200, 412), None),
    ("if-match-garbage", "GET", "/download", {"headers": {"if-match": "garbage"}}, (200, 412), None),
    ("if-range-date-garbage", "GET", "/download", {"headers": {"range": "bytes=0-1", "if-range": "Mon, 99 Foo"}}, (200, 206), None),
    ("conditional-get-garbage-etag", "GET", "/", {"headers": {"if-none-match": "W/" * 100}}, 200, None),
    ("conditional-get-ims-garbage", "GET", "/", {"headers": {"if-modified-since": "\x01\x02"}}, 200, None),
]

METHODS = [
    *[(f"method-{m.lower()}", m, "/", {}, 405, "use one of")
      for m in ["PROPFIND", "TRACE", "CONNECT", "FOO", "PATCH", "DELETE", "PUT", "MKCOL", "LOCK"]],
    ("method-head", "HEAD", "/download", {}, 200, None),
    ("method-options", "OPTIONS", "/notes", {}, 204, None),
    ("method-on-notes-item", "PATCH", "/notes/1", {}, 405, None),
]

PATHS = [
    ("unknown", "GET", "/nowhere", {}, 404, None),
    ("very-long-path", "GET", "/" + "x" * 20000, {}, 404, None),
    ("very-deep-path", "GET", "/" + DEEP, {}, 404, None),
    ("int-path-overflow", "PUT", "/notes/" + "9" * 400, {"json": {"title": "t"}, "headers": AUTH}, (200, 404, 422), None),
    ("int-path-5000-digits", "PUT", "/notes/" + "9" * 5000, {"json": {"title": "t"}, "headers": AUTH}, (200, 404, 422), None),
    ("float-path-5000-digits", "GET", "/prices/" + "9" * 5000, {}, (200, 404), None),
    ("float-path-huge-fraction", "GET", "/prices/1." + "9" * 5000, {}, (200, 404), None),
    ("float-path-unicode-digits", "GET", "/prices/\u0661.\u0662", {}, (200, 404), None),
    ("float-path-inf", "GET", "/prices/inf", {}, 404, None),
    ("float-path-nan", "GET", "/prices/nan", {}, 404, None),
    ("int-path-unicode-digits", "PUT", "/notes/\u0661", {"json": {"title": "t"}, "headers": AUTH}, (404, 405), None),
    ("uuid-path-bad", "GET", "/notes/not-a-uuid", {}, (404, 422), None),
    ("uuid-path-braces", "GET", "/notes/{12345678-1234-1234-1234-123456789012}", {}, (200, 404, 422), None),
    ("path-encoded-nul", "GET", "/notes/%00", {}, (404, 422), None),
    ("path-bad-utf8", "GET", "/notes/%ff", {}, (404, 422), None),
    ("path-encoded-slash", "GET", "/notes%2f1", {}, (404, 405), None),
    ("path-dot-segments", "GET", "/notes/./../notes", {}, (200, 404), None),
    ("trailing-slash", "GET", "/notes/", {}, (200, 404, 308), None),
]

QUERIES = [
    ("query-bad-utf8", "GET", "/notes?tag=%ff", {}, 400, "UTF-8"),
    ("query-bad-utf8-name", "GET", "/notes?%ff=1", {}, 400, "UTF-8"),
    ("query-lone-percent", "GET", "/notes?tag=%", {}, (200, 400), None),
    ("query-bad-escape", "GET", "/notes?tag=%zz", {}, (200, 400), None),
    ("query-only-separators", "GET", "/notes?&&&;;;===", {}, (200, 400), None),
    ("query-nul", "GET", "/notes?tag=%00", {}, (200, 400, 422), None),
    ("query-huge-int", "GET", "/notes", {"params": {"limit": "9" * 5000}}, 422, "query.limit"),
    ("query-negative-zero", "GET", "/notes", {"params": {"limit": "-0"}}, 422, "query.limit"),
    ("query-int-nan", "GET", "/notes", {"params": {"limit": "NaN"}}, 422, "query.limit"),
    ("query-int-inf", "GET", "/notes", {"params": {"limit": "Infinity"}}, 422, "query.limit"),
    ("query-int-exp", "GET", "/notes", {"params": {"limit": "1e1"}}, (200, 422), None),
    ("query-int-hex", "GET", "/notes", {"params": {"limit": "0x10"}}, 422, "query.limit"),
    ("query-int-spaces", "GET", "/notes", {"params": {"limit": " 5 "}}, (200, 422), None),
    ("query-int-underscore", "GET", "/notes", {"params": {"limit": "1_0"}}, 422, "query.limit"),
    ("query-int-unicode", "GET", "/notes", {"params": {"limit": "\u0665"}}, (200, 422), None),
    ("query-int-superscript", "GET", "/notes", {"params": {"limit": "\u00b2"}}, 422, "query.limit"),
    ("query-offset-beyond-int64", "GET", "/notes", {"params": {"offset": str(2**63)}}, (200, 422), None),
    ("query-repeated-scalar", "GET", "/notes?limit=1&limit=2", {}, (200, 422), None),
    ("query-many-tags", "GET", "/notes?" + "tag=x&" * 3000, {}, 200, None),
    ("query-enum-case", "GET", "/notes", {"params": {"kind": "NOTE"}}, 422, "query.kind"),
    ("query-date-garbage", "GET", "/notes", {"params": {"since": "2024-02-30"}}, 422, "query.since"),
    ("query-date-huge-year", "GET", "/notes", {"params": {"since": "99999-01-01"}}, 422, "query.since"),
    ("query-bool-garbage", "GET", "/notes", {"params": {"exact": "yes please"}}, 422, "query.exact"),
    ("optional-constrained-query", "GET", "/notes/search/optional", {"params": {"q": "x" * 30}}, 422, "query.q"),
    ("optional-constrained-int", "GET", "/notes/search/optional", {"params": {"page": "0"}}, 422, "query.page"),
    ("optional-constrained-header", "GET", "/notes/search/optional", {"headers": {"x-trace": "t" * 40}}, 422, "header.x-trace"),
    ("optional-constrained-cookie", "GET", "/notes/search/optional", {"headers": {"cookie": "theme=" + "c" * 20}}, 422, "cookie.theme"),
    ("optional-good", "GET", "/notes/search/optional", {"params": {"q": "x", "page": "2"}}, 200, None),
]

HEADERS = [
    ("header-int-garbage", "GET", "/headers", {"headers": {"x-count": "many"}}, 422, "header.x-count"),
    ("header-int-huge", "GET", "/headers", {"headers": {"x-count": "9" * 4000}}, (200, 422), None),
    ("header-int-5000-digits", "GET", "/headers", {"headers": {"x-count": "9" * 5000}}, 422, "header.x-count"),
    ("cookie-int-5000-digits", "GET", "/headers", {"headers": {"cookie": "visits=" + "9" * 5000}}, 422, "cookie.visits"),
    ("cookie-int-garbage", "GET", "/headers", {"headers": {"cookie": "visits=lots"}}, 422, "cookie.visits"),
    ("cookie-garbage-syntax", "GET", "/headers", {"headers": {"cookie": "=;=;;;visits"}}, (200, 400, 422), None),
    ("cookie-quoted", "GET", "/headers", {"headers": {"cookie": 'visits="1"'}}, (200, 422), None),
    ("cookie-many", "GET", "/headers", {"headers": {"cookie": "; ".join(f"c{i}=v" for i in range(3000))}}, (200, 431), None),
    ("cookie-duplicate", "GET", "/headers", {"headers": {"cookie": "visits=1; visits=x"}}, (200, 422), None),
    ("too-many-headers", "GET", "/", {"headers": {f"x-h{i}": "v" for i in range(150)}}, 431, None),
    ("huge-header", "GET", "/", {"headers": {"x-big": "a" * 70000}}, 431, None),
    ("accept-encoding-garbage", "GET", "/static/css/site.css", {"headers": {"accept-encoding": "gzip;q=abc, *;q=-1, ;;;"}}, 200, None),
    ("accept-encoding-zero", "GET", "/static/css/site.css", {"headers": {"accept-encoding": "gzip;q=0"}}, 200, None),
    ("accept-garbage", "GET", "/nowhere", {"headers": {"accept": "text/html;;q=x,*/*;q=NaN"}}, 404, None),
    ("request-id-huge", "GET", "/", {"headers": {"x-request-id": "r" * 5000}}, 200, None),
    ("request-id-odd", "GET", "/", {"headers": {"x-request-id": "<script>\"'"}}, 200, None),
    ("origin-null", "GET", "/", {"headers": {"origin": "null"}}, 200, None),
    ("origin-garbage", "GET", "/", {"headers": {"origin": "http://[::1"}}, 200, None),
    ("referer-garbage", "GET", "/", {"headers": {"referer": "http://[bad"}}, 200, None),
    ("content-length-plus", "POST", "/notes/raw", {"content": b"{}", "headers": {**JSON, "content-length": "+2"}}, 400, "Content-Length"),
    ("content-length-list", "POST", "/notes/raw", {"content": b"{}", "headers": {**JSON, "content-length": "2, 2"}}, (200, 201, 400), None),
    ("content-length-hex", "POST", "/notes/raw", {"content": b"{}", "headers": {**JSON, "content-length": "0x2"}}, 400, "Content-Length"),
    ("content-length-huge", "POST", "/notes/raw", {"content": b"{}", "headers": {**JSON, "content-length": "9" * 50}}, 413, None),
    ("content-length-too-small", "POST", "/notes/raw", {"content": b'{"a": 1}', "headers": {**JSON, "content-length": "2"}}, (201, 400), None),
    ("content-length-too-big", "POST", "/notes/raw", {"content": b"{}", "headers": {**JSON, "content-length": "200"}}, (201, 400), None),
    ("content-length-and-chunked", "POST", "/notes/raw", {"content": b"{}", "headers": {**JSON, "content-length": "2", "transfer-encoding": "chunked"}}, (201, 400), None),
    ("host-evil", "GET", "/", {"headers": {"host": "evil.example"}}, 400, None),
    ("host-empty", "GET", "/", {"headers": {"host": ""}}, 400, None),
    ("host-port-garbage", "GET", "/", {"headers": {"host": "testserver:abc"}}, (200, 400), None),
    ("host-port-huge", "GET", "/", {"headers": {"host": "testserver:999999999999"}}, (200, 400), None),
    ("host-userinfo", "GET", "/", {"headers": {"host": "evil@testserver"}}, 400, None),
    ("host-suffix", "GET", "/", {"headers": {"host": "testserver.evil.example"}}, 400, None),
    ("host-ipv6-broken", "GET", "/", {"headers": {"host": "[::1"}}, 400, None),
    ("host-long", "GET", "/", {"headers": {"host": "a" * 10000}}, 400, None),
    ("host-trailing-dot", "GET", "/", {"headers": {"host": "testserver."}}, (200, 400), None),
    ("host-uppercase", "GET", "/", {"headers": {"host": "TESTSERVER"}}, 200, None),
    ("host-redirect-poison", "GET", "/go?next=/x", {"headers": {"host": "evil.example"}, "follow_redirects": False}, 400, None),
]

MANAGE = {"authorization": f"Bearer {MANAGEMENT_TOKEN}"}
OBSERVABILITY = [
    *[(f"traceparent-{i}", "GET", "/", {"headers": {"traceparent": value, "tracestate": "a=,=b,,\x7f"}}, 200, None)
      for i, value in enumerate([
          "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",
          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
          "00-" + "g" * 32 + "-" + "b" * 16 + "-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "-" * 60,
      ])],
    ("metrics", "GET", "/metrics", {"headers": {"accept": "application/openmetrics-text; version=garbage; charset=\x7f"}}, 200, None),
    ("metrics-accept-garbage", "GET", "/metrics", {"headers": {"accept": ";;;,,,q=x"}}, 200, None),
    ("metrics-post", "POST", "/metrics", {}, 405, None),
    ("health-garbage-auth", "GET", "/health/ready", {"headers": {"authorization": "Bearer " + "x" * 5000}}, 200, None),
    ("info-unauthorised", "GET", "/_bastion/info", {}, 401, None),
    ("info-wrong-token", "GET", "/_bastion/info", {"headers": {"authorization": "Bearer wrong"}}, 401, None),
    ("loggers-unauthorised", "POST", "/_bastion/loggers/root", {"json": {"level": "DEBUG"}}, 401, None),
    ("logger-level-garbage", "POST", "/_bastion/loggers/shop", {"json": {"level": "LOUD"}, "headers": MANAGE}, (400, 422), None),
    ("logger-level-int", "POST", "/_bastion/loggers/shop", {"json": {"level": 5}, "headers": MANAGE}, (200, 400, 422), None),
    ("logger-level-huge", "POST", "/_bastion/loggers/shop", {"json": {"level": 10**30}, "headers": MANAGE}, (400, 422), None),
    ("logger-level-negative", "POST", "/_bastion/loggers/shop", {"json": {"level": -5}, "headers": MANAGE}, (200, 400, 422), None),
    ("logger-body-list", "POST", "/_bastion/loggers/shop", {"json": ["DEBUG"], "headers": MANAGE}, (400, 422), None),
    ("logger-body-form", "POST", "/_bastion/loggers/shop", {"data": {"level": "DEBUG"}, "headers": MANAGE}, 415, None),
    ("logger-body-empty", "POST", "/_bastion/loggers/shop", {"content": b"", "headers": {**MANAGE, **JSON}}, (400, 422), None),
    ("logger-name-long", "POST", "/_bastion/loggers/" + "a" * 5000, {"json": {"level": "INFO"}, "headers": MANAGE}, (200, 400, 404, 422), None),
    ("logger-name-dots", "POST", "/_bastion/loggers/..", {"json": {"level": "INFO"}, "headers": MANAGE}, (200, 400, 404, 422), None),
    ("logger-name-odd", "GET", "/_bastion/loggers/%00%ff", {"headers": MANAGE}, (200, 400, 404), None),
    ("logger-get", "GET", "/_bastion/loggers/shop", {"headers": MANAGE}, 200, None),
    ("forwarded-for-garbage", "GET", "/", {"headers": {"x-forwarded-for": "::::, , 999.1.1.1, \x7f, [::1]:80"}}, (200, 400), None),
    ("forwarded-proto-garbage", "GET", "/", {"headers": {"x-forwarded-proto": "gopher, javascript"}}, (200, 400), None),
    ("forwarded-rfc7239-garbage", "GET", "/", {"headers": {"forwarded": 'for="[::1;proto=;;;,,,=='}}, (200, 400), None),
    ("forwarded-for-huge", "GET", "/", {"headers": {"x-forwarded-for": ", ".join(["10.0.0.1"] * 3000)}}, (200, 400, 431), None),
]

GOOD_NOTE = {"title": "t"}
BODY_CASES = [
    ("json-wrong-root-list", "POST", "/notes", {"json": [], "headers": AUTH}, 422, "body"),
    ("json-wrong-root-string", "POST", "/notes", {"json": "note", "headers": AUTH}, 422, "body"),
    ("json-title-list", "POST", "/notes", {"json": {"title": ["t"]}, "headers": AUTH}, 422, "body.title"),
    ("json-title-object", "POST", "/notes", {"json": {"title": {"$ne": ""}}, "headers": AUTH}, 422, "body.title"),
    ("json-title-bool", "POST", "/notes", {"json": {"title": True}, "headers": AUTH}, 422, "body.title"),
    ("json-title-null", "POST", "/notes", {"json": {"title": None}, "headers": AUTH}, 422, "body.title"),
    ("json-stars-huge", "POST", "/notes", {"content": b'{"title":"t","stars":' + b"9" * 5000 + b"}", "headers": {**JSON, **AUTH}}, (400, 422), None),
    ("json-stars-big-int", "POST", "/notes", {"json": {"title": "t", "stars": 2**64}, "headers": AUTH}, 422, "body.stars"),
    ("json-stars-float", "POST", "/notes", {"json": {"title": "t", "stars": 1.5}, "headers": AUTH}, 422, "body.stars"),
    ("json-stars-string", "POST", "/notes", {"json": {"title": "t", "stars": "1"}, "headers": AUTH}, 422, "body.stars"),
    ("json-weight-overflow", "POST", "/notes", {"content": b'{"title":"t","weight":1e400}', "headers": {**JSON, **AUTH}}, (400, 422), None),
    ("json-weight-nan", "POST", "/notes", {"content": b'{"title":"t","weight":NaN}', "headers": {**JSON, **AUTH}}, 400, None),
    ("json-weight-infinity", "POST", "/notes", {"content": b'{"title":"t","weight":Infinity}', "headers": {**JSON, **AUTH}}, 400, None),
    ("json-weight-nan-string", "POST", "/notes", {"json": {"title": "t", "weight": "NaN"}, "headers": AUTH}, 422, "body.weight"),
    ("json-weight-negative-zero", "POST", "/notes", {"json": {"title": "t", "weight": -0.0}, "headers": AUTH}, 201, None),
    ("json-kind-int", "POST", "/notes", {"json": {"title": "t", "kind": 1}, "headers": AUTH}, 422, "body.kind"),
    ("json-tags-object", "POST", "/notes", {"json": {"title": "t", "tags": {"a": 1}}, "headers": AUTH}, 422, "body.tags"),
    ("json-tag-too-long", "POST", "/notes", {"json": {"title": "t", "tags": ["x" * 21]}, "headers": AUTH}, 422, "body.tags[0]"),
    ("json-due-garbage", "POST", "/notes", {"json": {"title": "t", "due": "2024-02-30"}, "headers": AUTH}, 422, "body.due"),
    ("json-due-int", "POST", "/notes", {"json": {"title": "t", "due": 20240101}, "headers": AUTH}, 422, "body.due"),
    ("json-unknown-field", "POST", "/notes", {"json": {"title": "t", "admin": True}, "headers": AUTH}, (201, 422), None),
    ("json-duplicate-keys", "POST", "/notes", {"content": b'{"title":"a","title":"b"}', "headers": {**JSON, **AUTH}}, (201, 400, 422), None),
    ("json-lone-surrogate", "POST", "/notes", {"content": b'{"title":"\\ud800"}', "headers": {**JSON, **AUTH}}, (400, 422), None),
    ("json-nul-in-string", "POST", "/notes", {"content": b'{"title":"a\\u0000b"}', "headers": {**JSON, **AUTH}}, (201, 422), None),
    ("json-raw-control-char", "POST", "/notes", {"content": b'{"title":"a\x01b"}', "headers": {**JSON, **AUTH}}, (400, 201), None),
    ("json-invalid-utf8", "POST", "/notes", {"content": b'{"title":"\xc3\x28"}', "headers": {**JSON, **AUTH}}, 400, None),
    ("json-utf16", "POST", "/notes", {"content": '{"title":"t"}'.encode("utf-16"), "headers": {**JSON, **AUTH}}, 400, None),
    ("json-bom", "POST", "/notes", {"content": b"\xef\xbb\xbf{}", "headers": {**JSON, **AUTH}}, 400, None),
    ("json-deep-objects", "POST", "/notes", {"content": b'{"a":' * 5000 + b"1" + b"}" * 5000, "headers": {**JSON, **AUTH}}, (400, 422), None),
    ("json-deep-tags", "POST", "/notes", {"content": b'{"title":"t","tags":' + b"[" * 5000 + b"]" * 5000 + b"}", "headers": {**JSON, **AUTH}}, (400, 422), None),
    ("json-deep-untyped", "POST", "/notes/raw", {"content": b'{"a":' * 5000 + b"1" + b"}" * 5000, "headers": JSON}, 400, None),
    ("json-empty", "POST", "/notes", {"content": b"", "headers": {**JSON, **AUTH}}, (400, 422), None),
    ("json-whitespace", "POST", "/notes", {"content": b"   \n ", "headers": {**JSON, **AUTH}}, (400, 422), None),
    ("json-oversized", "POST", "/notes", {"content": b'{"title":"' + b"x" * MAX_BODY + b'"}', "headers": {**JSON, **AUTH}}, 413, None),
    ("json-oversized-chunked", "POST", "/notes/raw", {"content": iter([b"[" + b"1," * 20000, b"1," * 20000 + b"1]"]), "headers": JSON}, 413, None),
    ("json-charset-latin1", "POST", "/notes", {"content": b'{"title":"t"}', "headers": {"content-type": "application/json; charset=latin-1", **AUTH}}, (201, 415), None),
    ("json-content-type-case", "POST", "/notes", {"content": b'{"title":"t"}', "headers": {"content-type": "APPLICATION/JSON", **AUTH}}, 201, None),
    ("json-no-content-type", "POST", "/notes", {"content": b'{"title":"t"}', "headers": AUTH}, 415, None),
    ("json-garbage-content-type", "POST", "/notes", {"content": b'{"title":"t"}', "headers": {"content-type": ";;;==,,/", **AUTH}}, 415, None),
    ("json-text-plain", "POST", "/notes", {"content": b'{"title":"t"}', "headers": {"content-type": "text/plain", **AUTH}}, 415, None),
    ("json-multipart-type", "POST", "/notes", {"content": b'{"title":"t"}', "headers": {"content-type": "multipart/form-data; boundary=x", **AUTH}}, 415, None),
    ("json-no-auth", "POST", "/notes", {"json": GOOD_NOTE}, 401, None),
    ("json-list-body-wrong-items", "POST", "/notes/bulk", {"json": [1, "2", None]}, 422, "body[1]"),
    ("json-list-body-object", "POST", "/notes/bulk", {"json": {"ids": [1]}}, 422, "body"),
    ("json-list-body-huge-ints", "POST", "/notes/bulk", {"json": [2**70]}, (200, 201, 422), None),
    ("json-put-int-overflow-id", "PUT", "/notes/99999999999999999999999", {"json": GOOD_NOTE, "headers": AUTH}, (200, 404, 422), None),
]

MULTI = "multipart/form-data; boundary=B"


def _part(name: bytes, value: bytes, extra: bytes = b"") -> bytes:
    return b'--B\r\nContent-Disposition: form-data; name="' + name + b'"' + extra + b"\r\n\r\n" + value + b"\r\n"


FORMS = [
    ("form-missing-field", "POST", "/signup", {"data": {"email": "a@b.c"}}, 422, "form.age"),
    ("form-int-garbage", "POST", "/signup", {"data": {"email": "a@b.c", "age": "old"}}, 422, "form.age"),
    ("form-int-huge", "POST", "/signup", {"data": {"email": "a@b.c", "age": "9" * 5000}}, 422, "form.age"),
    ("form-int-out-of-range", "POST", "/signup", {"data": {"email": "a@b.c", "age": "151"}}, 422, "form.age"),
    ("form-bad-percent", "POST", "/signup", {"content": b"email=%ff&age=1", "headers": FORM}, 400, "UTF-8"),
    ("form-raw-bad-utf8", "POST", "/signup", {"content": b"email=\xff&age=1", "headers": FORM}, 400, None),
    ("form-separators-only", "POST", "/signup", {"content": b"&&&===;;", "headers": FORM}, (400, 422), None),
    ("form-no-equals", "POST", "/signup", {"content": b"email", "headers": FORM}, (400, 422), None),
    ("form-many-fields", "POST", "/signup", {"content": b"&".join(b"f%d=1" % i for i in range(5000)), "headers": FORM}, (400, 413, 422), None),
    ("form-json-type", "POST", "/signup", {"json": {"email": "a", "age": 1}}, 415, None),
    ("form-oversized", "POST", "/signup", {"content": b"email=" + b"a" * MAX_BODY, "headers": FORM}, 413, None),
    ("form-repeated-scalar", "POST", "/signup", {"content": b"email=a&email=b&age=1&age=2", "headers": FORM}, (201, 422), None),
    ("upload-no-boundary", "POST", "/upload", {"content": b"x", "headers": {"content-type": "multipart/form-data"}}, 400, "boundary"),
    ("upload-empty-boundary", "POST", "/upload", {"content": b"x", "headers": {"content-type": "multipart/form-data; boundary="}}, 400, None),
    ("upload-quoted-boundary", "POST", "/upload", {"content": _part(b"file", b"x", b'; filename="a"') + b"--B--\r\n", "headers": {"content-type": 'multipart/form-data; boundary="B"'}}, 201, None),
    ("upload-boundary-too-long", "POST", "/upload", {"content": b"--" + b"B" * 300 + b"\r\n", "headers": {"content-type": "multipart/form-data; boundary=" + "B" * 300}}, 400, None),
    ("upload-truncated", "POST", "/upload", {"content": b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc', "headers": {"content-type": MULTI}}, 400, None),
    ("upload-no-final-boundary", "POST", "/upload", {"content": _part(b"file", b"abc", b'; filename="a"'), "headers": {"content-type": MULTI}}, 400, None),
    ("upload-garbage", "POST", "/upload", {"content": b"\x00\xff" * 500, "headers": {"content-type": MULTI}}, 400, None),
    ("upload-header-without-colon", "POST", "/upload", {"content": b"--B\r\nContent-Disposition form-data\r\n\r\nabc\r\n--B--\r\n", "headers": {"content-type": MULTI}}, 400, None),
    ("upload-no-disposition", "POST", "/upload", {"content": b"--B\r\nContent-Type: text/plain\r\n\r\nabc\r\n--B--\r\n", "headers": {"content-type": MULTI}}, 400, None),
    ("upload-huge-part-header", "POST", "/upload", {"content": b"--B\r\nX-Pad: " + b"p" * 30000 + b"\r\n" + _part(b"file", b"x")[4:] + b"--B--\r\n", "headers": {"content-type": MULTI}}, (400, 413, 422), None),
    ("upload-many-parts", "POST", "/upload", {"content": b"".join(_part(b"f%d" % i, b"x") for i in range(3000)) + b"--B--\r\n", "headers": {"content-type": MULTI}}, (400, 413, 422), None),
    ("upload-traversal-filename", "POST", "/upload", {"files": {"file": ("../../etc/passwd", b"x")}}, 201, None),
    ("upload-nul-filename", "POST", "/upload", {"content": _part(b"file", b"abc", b'; filename="a\x00b"') + b"--B--\r\n", "headers": {"content-type": MULTI}}, (201, 400), None),
    ("upload-bad-utf8-filename", "POST", "/upload", {"content": _part(b"file", b"abc", b'; filename="\xff\xfe"') + b"--B--\r\n", "headers": {"content-type": MULTI}}, (201, 400), None),
    ("upload-rfc2231-filename", "POST", "/upload", {"content": _part(b"file", b"abc", b"; filename*=UTF-8''%ff%fe") + b"--B--\r\n", "headers": {"content-type": MULTI}}, (201, 400, 422), None),
    ("upload-base64-encoding", "POST", "/upload", {"content": b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--B--\r\n', "headers": {"content-type": MULTI}}, (201, 400), None),
    ("upload-nested-multipart", "POST", "/upload", {"content": b'--B\r\nContent-Disposition: form-data; name="file"\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\nx\r\n--C--\r\n\r\n--B--\r\n', "headers": {"content-type": MULTI}}, (201, 400, 422), None),
    ("upload-text-field-for-file", "POST", "/upload", {"data": {"file": "not a file"}, "files": {"other": ("a", b"x")}}, 422, "form.file"),
    ("upload-missing", "POST", "/upload", {"data": {"caption": "x"}, "files": {"other": ("a", b"x")}}, 422, "form.file"),
    ("upload-too-large", "POST", "/upload", {"files": {"file": ("big", b"x" * (MAX_BODY + 1))}}, 413, None),
    ("upload-caption-too-long", "POST", "/upload", {"data": {"caption": "c" * 51}, "files": {"file": ("a", b"x")}}, 422, "form.caption"),
    ("upload-boundary-bad-chars", "POST", "/upload", {"content": b"x", "headers": {"content-type": "multipart/form-data; boundary=\x7f\x01"}}, 400, None),
    ("upload-charset-garbage", "POST", "/upload", {"content": _part(b"_charset_", b"x-unknown") + _part(b"caption", b"\xff") + b"--B--\r\n", "headers": {"content-type": MULTI}}, (400, 422), None),
]

REDIRECT_ATTEMPTS = [
    "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example", "http:evil.example",
    "https:evil.example", "/%2F%2Fevil.example", "%2F%2Fevil.example", "/\t/evil.example", "/\n/evil.example",
    "javascript:alert(1)", "data:text/html,x", "//evil.example@testserver", "///evil.example",
    "/%5Cevil.example", "\x00//evil", " //evil.example", "//evil%E3%80%82example", "ht\ttp://evil",
    "/\r\nSet-Cookie: pwned=1", "/%0d%0aSet-Cookie:%20pwned=1", "https://testserver.evil.example/",
    "https://testserver@evil.example", "／／evil.example", "/..//evil.example", "/./\\evil", "\u2215\u2215evil",
]


@pytest.mark.parametrize("attempt", REDIRECT_ATTEMPTS)
def test_open_redirect_attempts_land_home(client: TestClient, attempt: str) -> None:
    response = client.get("/go", params={"next": attempt}, follow_redirects=False)
    safe(response)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == "/home", location
    assert "pwned" not in response.headers.get("set-cookie", "")


def test_a_local_next_is_kept(client: TestClient) -> None:
    response = client.get("/go", params={"next": "/notes?x=1"}, follow_redirects=False)
    assert response.headers["location"] == "/notes?x=1"


TABLE = [*STATIC, *FILES, *METHODS, *PATHS, *QUERIES, *HEADERS, *OBSERVABILITY, *BODY_CASES, *FORMS]


@pytest.mark.parametrize(
    "case", [pytest.param(c[:6], id=c[0], marks=c[6:]) for c in TABLE]
)
def test_hostile_request(client: TestClient, case: tuple[Any, ...]) -> None:
    _, method, path, kwargs, status, names = case
    kwargs = dict(kwargs)
    follow = kwargs.pop("follow_redirects", False)
    response = client.request(method, path, follow_redirects=follow, **kwargs)
    expect(response, status, names)


def test_the_probe_is_a_few_hundred_cases() -> None:
    assert len(TABLE) + len(FORGED_TOKENS) + len(REDIRECT_ATTEMPTS) >= 250
    assert len({c[0] for c in TABLE}) == len(TABLE)


# -- raw ASGI: bytes httpx will not send ------------------------------------------------------
RAW = [
    ("header-bad-utf8", "GET", "/headers", [(b"x-count", b"\xff\xfe")], (400, 422)),
    ("cookie-bad-utf8", "GET", "/headers", [(b"cookie", b"visits=\xff")], (400, 422)),
    ("session-cookie-bad-utf8", "POST", "/visit", [(b"cookie", b"session=\xff\xfe\x00")], (200, 201, 403)),
    ("authorization-bad-utf8", "GET", "/me", [(b"authorization", b"Bearer \xff\xfe")], 401),
    ("authorization-latin1", "GET", "/me", [(b"authorization", b"Bearer caf\xe9")], 401),
    ("host-bad-utf8", "GET", "/", [(b"host", b"\xff")], 400),
    ("origin-bad-utf8", "GET", "/", [(b"origin", b"https://\xff")], 200),
    ("origin-bad-utf8-preflight", "OPTIONS", "/notes", [(b"origin", b"https://\xff"), (b"access-control-request-method", b"POST")], 400),
    ("range-bad-utf8", "GET", "/download", [(b"range", b"bytes=\xff-")], (200, 206, 416)),
    ("if-none-match-bad-utf8", "GET", "/download", [(b"if-none-match", b'"\xff"')], 200),
    ("ims-bad-utf8", "GET", "/download", [(b"if-modified-since", b"\xff\xfe")], 200),
    ("accept-encoding-bad-utf8", "GET", "/static/css/site.css", [(b"accept-encoding", b"gz\xffip")], 200),
    ("request-id-bad-utf8", "GET", "/", [(b"x-request-id", b"\xff\xfe")], 200),
    ("content-type-bad-utf8", "POST", "/notes/raw", [(b"content-type", b"application/json\xff")], (201, 400, 415)),
    ("content-length-bad-utf8", "POST", "/notes/raw", [(b"content-type", b"application/json"), (b"content-length", b"\xb2")], 400),
    ("content-length-duplicated", "POST", "/notes/raw", [(b"content-type", b"application/json"), (b"content-length", b"2"), (b"content-length", b"5")], (201, 400)),
    ("x-csrf-token-bad-utf8", "POST", "/comment", [(b"cookie", b"csrftoken=\xff"), (b"x-csrf-token", b"\xff"), (b"content-type", b"application/x-www-form-urlencoded")], 403),
    ("sse-last-event-id-bad-utf8", "HEAD", "/rooms/lobby/events", [(b"last-event-id", b"\xff\xfe")], (200, 400)),
    ("forwarded-for-bad-utf8", "GET", "/", [(b"x-forwarded-for", b"\xff")], 200),
    ("header-name-odd", "GET", "/", [(b"x-\xff\x00", b"v")], 200),
    ("empty-header-name", "GET", "/", [(b"", b"v")], 200),
]


@pytest.mark.parametrize("case", RAW, ids=[c[0] for c in RAW])
def test_raw_headers(raw: Raw, case: tuple[Any, ...]) -> None:
    name, method, path, headers, status = case
    response = raw(method, path, headers=headers, body=[b"{}"], host=None if name.startswith("host") else b"testserver")
    expect(response, status)


@pytest.mark.parametrize(
    "method", ["", " ", "G ET", "GET\x00", "\xff", "X" * 5000, "get", "CONNECT", "OPTIONS"]
)
def test_raw_odd_methods(raw: Raw, method: str) -> None:
    response = raw(method, "/")
    safe(response)
    assert response.status_code in (204, 400, 405, 501)


@pytest.mark.parametrize(
    "path",
    ["", "*", "noslash", "/static/\x00", "/static/\ufffd\ufffd", "/static/../../secret.txt",
     "/static/..\\..\\secret.txt", "/static/./css/../../secret.txt", "/\x00", "/static/\udcff",
     "/" + "\u202e" * 100, "//notes", "//evil.example/x", "/static/" + "é" * 3000, "/notes/\udcff", "/static/css/.."],
)
def test_raw_paths(raw: Raw, path: str) -> None:
    response = raw("GET", path)
    safe(response)
    assert response.status_code in (200, 308, 400, 404), response.status_code
    assert b"TOP SECRET" not in response.content


@pytest.mark.parametrize("value", ["bytes=\u0661-\u0662", "bytes=\u00b2-", "bytes=0-\ufffd"])
def test_raw_range_with_unicode_digits(raw: Raw, value: str) -> None:
    response = raw("GET", "/download", headers=[(b"range", value.encode())])
    safe(response)
    assert response.status_code in (200, 416)


def test_raw_very_long_query(raw: Raw) -> None:
    expect(raw("GET", "/notes", query=b"tag=" + b"q" * 500_000), 200)
    expect(raw("GET", "/notes", query=b"&" * 200_000), 200)


def test_raw_query_with_bad_bytes(raw: Raw) -> None:
    expect(raw("GET", "/notes", query=b"tag=\xff\xfe"), 400, "UTF-8")
    expect(raw("GET", "/notes", query=b"limit=\x00"), 422, "query.limit")
    expect(raw("GET", "/notes", query="tag=é".encode()), 200)
    for path in ("/socket/longpoll", "/go", "/page"):  # routes that read the query
        expect(raw("GET", path, query=b"vsn=\xff&token=\xfe&next=\xff&name=\xff", leave=True), 400, "UTF-8")


@pytest.mark.parametrize(
    "peer", [None, ("", 0), ("::1", 1), ("garbage", 0), ("fe80::1%eth0", 1), ("unix:/tmp/s", 0)]
)
def test_odd_client_addresses(client: TestClient, peer: Any) -> None:
    """Unix sockets give no peer, IPv6 scopes and garbage come from odd servers: rate limits
    (keyed by address), proxy headers and access logs must all cope."""
    for path in ("/limited", "/", "/nowhere", "/me"):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "https",
            "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": [(b"host", b"testserver"), (b"x-forwarded-for", b"203.0.113.9")],
            "client": peer, "server": None, "state": dict(client._asgi.inner.state or {}),
        }  # fmt: skip
        response = client.portal.call(_exchange(client.app, scope, [b""], False), timeout=5)
        safe(response)


@pytest.mark.parametrize(
    "path", ["/countdown", "/download", "/static/index.html", "/rooms/a/events", "/page", "/metrics", "/health/live"]
)
def test_head_requests_end_without_a_body(raw: Raw, path: str) -> None:
    response = raw("HEAD", path)
    safe(response)
    assert response.status_code == 200 and response.content == b""


def test_duplicated_credentials_are_not_mixed(raw: Raw) -> None:
    forged = FORGED_TOKENS["wrong-secret"].encode()
    for pair in ([GOOD_TOKEN.encode(), forged], [forged, GOOD_TOKEN.encode()]):
        response = raw("GET", "/me", headers=[(b"authorization", b"Bearer " + token) for token in pair])
        safe(response)
        assert response.status_code == (200 if pair[0] != forged else 401)


def test_raw_http_10_without_host(raw: Raw) -> None:
    response = raw("GET", "/", host=None, http_version="1.0")
    safe(response)
    assert response.status_code in (200, 400)


def test_raw_body_longer_than_declared(raw: Raw) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    response = raw("POST", "/notes/raw", headers=headers, body=[b"{}", b"   ", b"[1]"])
    safe(response)
    assert response.status_code in (201, 400)


def test_templates_escape_what_the_query_carries(client: TestClient) -> None:
    payload = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>{{7*7}}"
    response = client.get("/page", params={"name": payload})
    assert response.status_code == 200
    assert "<script>alert" not in response.text and "<img" not in response.text
    assert "{{7*7}}" in response.text.replace("&#123;", "{") or "49" not in response.text


async def _ws_exchange(app: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """The app's first answer to a WebSocket handshake (accept, close or a denial)."""
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    connected = False

    async def receive() -> dict[str, Any]:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await asyncio.sleep(5)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        await answers.put(message)

    task = asyncio.ensure_future(app(scope, receive, send))
    try:
        return await asyncio.wait_for(answers.get(), timeout=3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    "path, query, headers",
    [
        ("/socket/websocket", b"vsn=\xff&token=\xfe", []),
        ("/socket/websocket", b"vsn=2.0.0", [(b"sec-websocket-protocol", b"phoenix, base64url.bearer.phx.\xff\xfe")]),
        ("/socket/websocket", b"vsn=2.0.0", [(b"cookie", b"session=\xff"), (b"origin", b"https://testserver")]),
        ("/ws/games/1", b"size=\xff", []),
        ("/ws/echo", b"", [(b"origin", b"\xff\xfe"), (b"cookie", b"a=b")]),
        ("/ws/\udcff", b"", []),
    ],
)
def test_raw_websocket_handshakes(client: TestClient, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    scope = {
        "type": "websocket", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "scheme": "wss", "path": path, "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query, "root_path": "", "client": CLIENT, "server": ("testserver", 443),
        "headers": [(b"host", b"testserver"), *headers], "subprotocols": [],
        "state": dict(client._asgi.inner.state or {}),
    }  # fmt: skip
    answer = client.portal.call(_ws_exchange(client.app, scope), timeout=5)
    assert answer["type"] in ("websocket.accept", "websocket.close", "websocket.http.response.start"), answer
    if answer["type"] == "websocket.close":
        assert answer.get("code", 1000) != 1011, answer
    if answer["type"] == "websocket.http.response.start":
        assert answer["status"] < 500, answer


# -- CORS -----------------------------------------------------------------------------------
def preflight(client: TestClient, origin: str, method: str = "POST", headers: str | None = None) -> httpx.Response:
    asked = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        asked["access-control-request-headers"] = headers
    return client.options("/notes", headers=asked)


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "null", "https://app.example.com.evil.example", "http://app.example.com",
     "https://app.example.com:444", "https://APP.EXAMPLE.COM.evil", "https://app.example.com/", "",
     "https://app.example.com\tx", "*"],
)
def test_cors_preflight_from_a_disallowed_origin_is_refused(client: TestClient, origin: str) -> None:
    response = preflight(client, origin)
    safe(response)
    if response.status_code != 400:  # an empty Origin is no preflight at all
        assert origin == "" and response.status_code == 204
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("method", ["DELETE", "TRACE", "PATCH", "FOO", "", "GET, DELETE"])
def test_cors_preflight_for_a_disallowed_method_is_refused(client: TestClient, method: str) -> None:
    response = preflight(client, TRUSTED_ORIGIN, method)
    safe(response)
    assert response.status_code == 400, response.status_code
    assert "access-control-allow-methods" not in response.headers or method not in response.headers["access-control-allow-methods"]


@pytest.mark.parametrize("headers", ["x-evil", "x-csrf-token, x-evil", "cookie", ",,,", "a" * 5000, "x-csrf-token,\tx-evil"])
def test_cors_preflight_for_disallowed_headers_is_refused(client: TestClient, headers: str) -> None:
    response = preflight(client, TRUSTED_ORIGIN, "POST", headers)
    safe(response)
    if headers == ",,,":
        assert response.status_code in (204, 400)
    else:
        assert response.status_code == 400, response.status_code


def test_cors_allowed_preflight_and_plain_requests(client: TestClient) -> None:
    allowed = preflight(client, TRUSTED_ORIGIN, "PUT", "X-CSRF-Token, content-type")
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == TRUSTED_ORIGIN
    evil = client.get("/", headers={"origin": "https://evil.example"})
    assert evil.status_code == 200 and "access-control-allow-origin" not in evil.headers


# -- CSRF and sessions ------------------------------------------------------------------------
def browser(client: TestClient) -> str:
    """Make ``client`` a browser holding the CSRF cookie; returns the page's token."""
    page = client.get("/page").text
    return page.split('value="')[1].split('"')[0]


def logged_in(client: TestClient) -> str:
    token = browser(client)
    response = client.post(
        "/login",
        data={"username": "ada", "password": "correct horse", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert client.get("/me").json() == {"name": "ada"}
    return browser(client)  # a login rotates the session; the CSRF cookie stays


def test_csrf_post_without_token(client: TestClient) -> None:
    logged_in(client)
    expect(client.post("/comment", data={"text": "hi"}), 403, "missing")


@pytest.mark.parametrize(
    "token", ["wrong", "", " ", "a" * 5000, "..", "\u00e9", "Ym9ndXM", "a.b.c", "0" * 64, "%00"]
)
def test_csrf_post_with_a_wrong_token(client: TestClient, token: str) -> None:
    logged_in(client)
    response = client.post("/comment", data={"text": "hi", "csrf_token": token})
    expect(response, 403)
    assert response.json()["reason"] in ("wrong", "missing")


def cookie_header(client: TestClient, **replace: str) -> str:
    """The client's cookies as one header (with some replaced); the jar is emptied, so the
    header is all the app sees."""
    jar = {cookie.name: cookie.value for cookie in client.cookies.jar}
    client.cookies.clear()
    return "; ".join(f"{name}={value}" for name, value in {**jar, **replace}.items())


@pytest.mark.parametrize("forged", ["forged-cookie-value", "", "a" * 4000, "x.y.z", "%ff"])
def test_csrf_token_made_for_another_cookie(client: TestClient, forged: str) -> None:
    token = logged_in(client)
    cookies = cookie_header(client, csrftoken=forged)
    response = client.post("/comment", data={"text": "hi", "csrf_token": token}, headers={"cookie": cookies})
    expect(response, 403)


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://testserver", "https://testserver.evil.example", "https://testserver:8443"]
)
def test_csrf_cross_origin_is_refused(client: TestClient, origin: str) -> None:
    token = logged_in(client)
    response = client.post("/comment", data={"text": "hi", "csrf_token": token}, headers={"origin": origin})
    expect(response, 403, "cross-origin")


@pytest.mark.parametrize("referer", ["https://evil.example/page", "garbage", "http://[bad", "https://testserver.evil.example/"])
def test_csrf_cross_site_referer_without_origin_is_refused(client: TestClient, referer: str) -> None:
    token = logged_in(client)
    response = client.post("/comment", data={"text": "hi", "csrf_token": token}, headers={"referer": referer})
    expect(response, 403)


def test_csrf_passes_with_the_token_and_from_the_trusted_origin(client: TestClient) -> None:
    token = logged_in(client)
    expect(client.post("/comment", data={"text": "hi", "csrf_token": token}), 201)
    expect(client.post("/comment", data={"text": "js"}, headers={"x-csrf-token": token, "origin": TRUSTED_ORIGIN}), 201)


def test_csrf_bearer_token_is_not_checked(client: TestClient) -> None:
    logged_in(client)
    expect(client.post("/comment", data={"text": "api"}, headers=AUTH), 201)


@pytest.mark.parametrize("scheme", ["Basic", "Digest", "Negotiate", "NTLM"])
def test_csrf_ambient_authorization_counts_as_a_cookie(client: TestClient, scheme: str) -> None:
    logged_in(client)
    response = client.post(
        "/comment", data={"text": "hi"},
        headers={"authorization": f"{scheme} YWRhOnB3", "origin": "https://evil.example"},
    )
    expect(response, 403)


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "", "a" * 4000, "e30.e30.e30", "..", "%ff%fe", "eyJ2aXNpdHMiOjEwMH0", "null", "0", "\"quoted\""],
)
def test_tampered_session_cookie_is_a_new_session(client: TestClient, cookie: str) -> None:
    client.cookies.set("session", cookie, domain="testserver")
    response = client.post("/visit", headers=AUTH)  # bearer: not a CSRF case
    expect(response, 201)
    assert response.json() == {"visits": 1}
    expect(client.get("/me"), 401)


def test_a_session_cookie_with_a_flipped_character_is_not_accepted(client: TestClient) -> None:
    logged_in(client)
    cookie = client.cookies["session"]
    jar = cookie_header(client)
    assert client.get("/me", headers={"cookie": jar}).status_code == 200
    for position in (0, len(cookie) // 2, len(cookie) - 2):
        flipped = cookie[:position] + ("A" if cookie[position] != "A" else "B") + cookie[position + 1 :]
        expect(client.get("/me", headers={"cookie": jar.replace(cookie, flipped)}), 401)


def test_login_next_is_never_an_open_redirect(client: TestClient) -> None:
    token = browser(client)
    data = {"username": "ada", "password": "correct horse", "csrf_token": token, "next": "//evil.example"}
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.headers["location"] == "/home"


def test_login_with_wrong_types_and_garbage(client: TestClient) -> None:
    token = browser(client)
    expect(client.post("/login", data={"username": "ada", "csrf_token": token}), 422, "form.password")
    expect(client.post("/login", data={"username": "ada", "password": "x", "csrf_token": token}), 401)
    expect(client.post("/login", json={"username": "ada"}, headers={"x-csrf-token": token}), 415)


# -- rate limits ----------------------------------------------------------------------------
def test_rate_limit_exhaustion_is_429_with_retry_after(client: TestClient) -> None:
    headers = {"x-forwarded-for": "198.51.100.7"}  # not a trusted proxy: ignored
    statuses = [client.get("/limited", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    for _ in range(3):
        refused = client.get("/limited", headers=headers)
        expect(refused, 429)
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["ratelimit-remaining"] == "0"


# -- SSE ------------------------------------------------------------------------------------
LAST_EVENT_IDS = [
    "garbage", "-1", "9" * 400, "1-2-3", "0-0", "99999999999999999999-0", "\u00e9", " ", "",
    "1" * 5000, "18446744073709551616", "NaN", "1e9", "0x10", "1\t2", "-", "1-", "-1-1",
]


@pytest.mark.parametrize("last", LAST_EVENT_IDS)
def test_sse_last_event_id_garbage(client: TestClient, raw: Raw, last: str) -> None:
    expect(client.post("/rooms/garbage/announce", headers=AUTH), 201)
    response = raw("GET", "/rooms/garbage/events", headers=[(b"last-event-id", last.encode())], leave=True)
    safe(response)
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("last", [b"\xff\xfe", "é".encode(), b"1\x00", b"\x00" * 100])
def test_sse_last_event_id_bytes(client: TestClient, raw: Raw, last: bytes) -> None:
    response = raw("GET", "/rooms/garbage/events", headers=[(b"last-event-id", last)], leave=True)
    safe(response)
    assert response.status_code in (200, 400), response.status_code


def test_sse_resumes_after_a_good_id(client: TestClient) -> None:
    expect(client.post("/rooms/resume/announce", headers=AUTH), 201)
    expect(client.post("/rooms/resume/announce", headers=AUTH), 201)
    with client.stream("GET", "/rooms/resume/events", headers={"last-event-id": "0"}) as response:
        assert response.status_code == 200
        first = next(response.iter_text())
        assert "data:" in first


def test_sse_countdown_ends(raw: Raw) -> None:
    response = raw("GET", "/countdown", headers=[(b"last-event-id", "éé".encode())])
    assert response.status_code == 200 and response.text.count("event: tick") == 3


# -- WebSockets -----------------------------------------------------------------------------
def ws_close_code(client: TestClient, path: str, send: Any, *, headers: dict[str, str] | None = None) -> int:
    """Open ``path``, send one message (str, bytes or a JSON-able object) and return the code
    the app closes with."""
    with client.websocket_connect(path, headers=headers, timeout=3) as ws:
        if isinstance(send, str):
            ws.send_text(send)
        elif isinstance(send, bytes):
            ws.send_bytes(send)
        else:
            ws.send_json(send)
        try:
            while True:
                ws.receive()
        except WebSocketDisconnect as closed:
            return closed.code
    raise AssertionError("unreachable")


WS_MOVES = [
    ("not-json", "nope", 1007),
    ("truncated-json", '{"x": 1', 1007),
    ("wrong-shape", '{"x": "one", "y": 2}', 1008),
    ("missing-field", '{"x": 1}', 1008),
    ("array", "[1, 2]", 1008),
    ("huge-int", '{"x": ' + "9" * 5000 + ', "y": 1}', (1007, 1008)),
    ("float-for-int", '{"x": 1.5, "y": 2}', 1008),
    ("nan", '{"x": NaN, "y": 2}', 1007),
    ("deep", "[" * 5000 + "]" * 5000, (1007, 1008)),
    ("lone-surrogate", '{"x": "\\ud800", "y": 1}', (1007, 1008)),
    ("empty-text", "", 1007),
    ("binary-garbage", b"\xff\xfe\x00", (1003, 1007)),
    ("binary-json", b'{"x": 1, "y": 2}', (1003, None)),
]


@pytest.mark.parametrize("case", WS_MOVES, ids=[c[0] for c in WS_MOVES])
def test_websocket_bad_messages_close_with_the_documented_code(client: TestClient, case: tuple[Any, ...]) -> None:
    _, message, codes = case
    allowed = codes if isinstance(codes, tuple) else (codes,)
    if None in allowed:  # accepted as JSON: answered, then our own close
        with client.websocket_connect("/ws/moves", timeout=3) as ws:
            ws.send_bytes(message)
            try:
                answer = ws.receive_json()
            except WebSocketDisconnect as closed:
                assert closed.code in allowed
            else:
                assert answer == {"ok": 3}
        return
    assert ws_close_code(client, "/ws/moves", message) in allowed


def test_websocket_binary_where_text_expected_is_1003(client: TestClient) -> None:
    assert ws_close_code(client, "/ws/echo", b"\x00\x01") == 1003


def test_websocket_invalid_handshakes(client: TestClient) -> None:
    for path in ["/ws/nowhere", "/ws/games/abc", "/ws/games/99999999999999999999999999", "/ws/games/%00"]:
        try:
            with client.websocket_connect(path, timeout=3) as ws:
                ws.receive()
        except (WebSocketDenied, WebSocketDisconnect):
            pass
    try:
        with client.websocket_connect("/ws/games/1?size=0", timeout=3) as ws:
            ws.receive()
    except WebSocketDenied as denied:
        assert denied.code == 1008
    except WebSocketDisconnect as closed:
        assert closed.code == 1008


def test_websocket_cross_site_handshake_with_cookies_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDenied) as denied:
        with client.websocket_connect("/ws/echo", headers={"cookie": "session=1", "origin": "https://evil.example"}):
            pass
    assert denied.value.code == 1008


def test_websocket_bad_header_bytes_and_long_text(client: TestClient) -> None:
    with client.websocket_connect("/ws/echo", timeout=3) as ws:
        ws.send_text("x" * 200_000)
        assert len(ws.receive_text()) == 200_000
        ws.send_text("\u0000\ud7ff\ue000")
        assert ws.receive_text() == "\u0000\ud7ff\ue000"


# -- channels -------------------------------------------------------------------------------
SOCKET = f"/socket/websocket?vsn=2.0.0&token={GOOD_TOKEN}"
BOB_SOCKET = f"/socket/websocket?vsn=2.0.0&token={tokens.encode({'sub': '2'})}"


def channel_reply(ws: Any, ref: str) -> list[Any]:
    """The next frame answering ``ref`` (skipping presence traffic)."""
    for _ in range(20):
        frame = ws.receive_json()
        if isinstance(frame, list) and frame[1] == ref and frame[3] == "phx_reply":
            return frame
    raise AssertionError(f"no reply to {ref}")


def test_channel_join_to_a_forbidden_topic_is_refused(client: TestClient) -> None:
    with client.websocket_connect(BOB_SOCKET, timeout=3) as ws:
        ws.send_json(["1", "1", "room:staff", "phx_join", {"name": "bob"}])
        assert channel_reply(ws, "1")[4] == {"status": "error", "response": {"reason": "unauthorized"}}
        ws.send_json(["2", "2", "room:staff", "new_msg", {"body": "let me in"}])
        assert channel_reply(ws, "2")[4]["response"] == {"reason": "unmatched topic"}


@pytest.mark.parametrize(
    "query",
    ["vsn=2.0.0", "vsn=2.0.0&token=garbage", f"vsn=2.0.0&token={FORGED_TOKENS['alg-none']}",
     f"vsn=2.0.0&token={FORGED_TOKENS['expired']}"],
    # Fixed ids: the tokens hold the time they were made, so pytest-xdist's workers would
    # collect differently named tests and refuse to run.
    ids=["no-token", "garbage", "alg-none", "expired"],
)
def test_channel_join_without_a_valid_token_is_an_error_reply(client: TestClient, query: str) -> None:
    with client.websocket_connect(f"/socket/websocket?{query}", timeout=3) as ws:
        ws.send_json(["1", "1", "room:lobby", "phx_join", {"name": "eve"}])
        reply = channel_reply(ws, "1")[4]
        assert reply["status"] == "error" and reply["response"]["reason"] != "internal error", reply


@pytest.mark.parametrize(
    "frame, answer",
    [
        (["1", "1", "nowhere:1", "phx_join", {}], "error"),
        (["1", "1", "room:lobby", "phx_join", {"name": ""}], "error"),
        (["1", "1", "room:lobby", "phx_join", {"name": 5}], "error"),
        (["1", "1", "room:lobby", "phx_join", []], "error"),
        (["1", "1", "room:lobby", "phx_join", None], "error"),
        (["1", "1", "room:lobby", "phx_join", "text"], "error"),
        (["1", "1", "room:lobby", "new_msg", {"body": "x"}], "error"),
        (["1", "1", "room:", "phx_join", {"name": "a"}], ("ok", "error")),
        (["1", "1", "room:" + "x" * 3000, "phx_join", {"name": "a"}], ("ok", "error")),
        (["1", "1", "phoenix", "unknown", {}], ("ok", "error")),
        (["1", "1", "phoenix", "heartbeat", "garbage"], ("ok", "error")),
        (["1", "1", "room:lobby", "phx_leave", {}], ("ok", "error")),
    ],
)
def test_channel_bad_joins_and_pushes_get_error_replies(client: TestClient, frame: list[Any], answer: Any) -> None:
    allowed = answer if isinstance(answer, tuple) else (answer,)
    with client.websocket_connect(SOCKET, timeout=3) as ws:
        ws.send_json(frame)
        reply = channel_reply(ws, "1")[4]
        assert reply["status"] in allowed, reply
        if reply["status"] == "error":
            assert reply["response"].get("reason") != "internal error", reply


def test_channel_pushes_with_bad_payloads_after_join(client: TestClient) -> None:
    with client.websocket_connect(SOCKET, timeout=3) as ws:
        ws.send_json(["1", "1", "room:lobby", "phx_join", {"name": "ann"}])
        assert channel_reply(ws, "1")[4]["status"] == "ok"
        for ref, payload in enumerate([None, [], "x", {"body": 5}, {"body": "x" * 501}, {"nobody": 1}], start=2):
            ws.send_json(["1", str(ref), "room:lobby", "new_msg", payload])
            reply = channel_reply(ws, str(ref))[4]
            assert reply["status"] == "error" and reply["response"]["reason"] != "internal error", reply
        ws.send_json(["1", "20", "room:lobby", "blob", {"not": "bytes"}])
        reply = channel_reply(ws, "20")[4]
        assert reply["response"].get("reason") != "internal error", reply
        ws.send_json(["1", "21", "room:lobby", "no_such_event", {}])
        reply = channel_reply(ws, "21")[4]
        assert reply["status"] == "error" and reply["response"]["reason"] != "internal error", reply


def binary_push(join_ref: bytes, ref: bytes, topic: bytes, event: bytes, payload: bytes, sizes: bytes | None = None) -> bytes:
    """Phoenix's binary push: kind 0, four sizes, then the strings and the payload."""
    sizes = sizes if sizes is not None else bytes([len(join_ref), len(ref), len(topic), len(event)])
    return b"\x00" + sizes + join_ref + ref + topic + event + payload


def test_channel_binary_pushes(client: TestClient) -> None:
    with client.websocket_connect(SOCKET, timeout=3) as ws:
        ws.send_json(["1", "1", "room:lobby", "phx_join", {"name": "ann"}])
        assert channel_reply(ws, "1")[4]["status"] == "ok"
        ws.send_bytes(binary_push(b"1", b"2", b"room:lobby", b"blob", b"\x00\xff" * 10))
        assert channel_reply(ws, "2")[4] == {"status": "ok", "response": {"bytes": 20}}
        ws.send_bytes(binary_push(b"1", b"3", b"room:lobby", b"new_msg", b"\xff"))
        reply = channel_reply(ws, "3")[4]
        assert reply["status"] == "error" and reply["response"]["reason"] != "internal error", reply
        ws.send_bytes(binary_push(b"1", b"4", b"room:other", b"blob", b"x"))
        assert channel_reply(ws, "4")[4]["response"] == {"reason": "unmatched topic"}


@pytest.mark.parametrize(
    "frame",
    [
        binary_push(b"1", b"2", b"room:lobby", b"blob", b"", sizes=b"\xff\xff\xff\xff"),
        binary_push(b"1", b"2", b"room:lobby", b"blob", b"", sizes=b"\x01"),
        binary_push(b"\xff", b"\xfe", b"room:\xff", b"bl\xffob", b"x"),
        b"\x00",
        b"\x01\x01\x01\x01\x01",
        b"\x02" + b"\x00" * 50,
    ],
)
def test_malformed_binary_pushes_close_the_socket(client: TestClient, frame: bytes) -> None:
    assert ws_close_code(client, SOCKET, frame) in (1003, 1007, 1008)


@pytest.mark.parametrize(
    "subprotocols",
    [["phoenix", "base64url.bearer.phx.!!!"], ["base64url.bearer.phx." + "A" * 5000], ["x" * 300], [""], ["phoenix"] * 50],
)
def test_channel_socket_subprotocol_garbage(client: TestClient, subprotocols: list[str]) -> None:
    try:
        with client.websocket_connect(SOCKET, subprotocols=subprotocols, timeout=3) as ws:
            ws.send_json(["1", "1", "phoenix", "heartbeat", {}])
            assert channel_reply(ws, "1")[4]["status"] == "ok"
    except WebSocketDenied as denied:
        assert denied.code != 1011


def test_channel_message_flood_closes_with_1008(client: TestClient) -> None:
    with client.websocket_connect(SOCKET, timeout=3) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            for n in range(400):
                ws.send_json([None, str(n), "phoenix", "heartbeat", {}])
            while True:
                ws.receive()
        assert closed.value.code == 1008


def test_channel_join_limit(client: TestClient) -> None:
    with client.websocket_connect(SOCKET, timeout=3) as ws:
        statuses = []
        for n in range(7):
            ws.send_json([str(n), str(n), f"room:{n}", "phx_join", {"name": "ann"}])
            statuses.append(channel_reply(ws, str(n))[4]["status"])
        assert statuses[:5] == ["ok"] * 5 and statuses[5:] == ["error", "error"]


MALFORMED_FRAMES = [
    ("not-json", "garbage", 1007),
    ("truncated", '["1","1"', 1007),
    ("object-v2", '{"topic": "room:lobby"}', 1008),
    ("short-array", '["1", "1"]', 1008),
    ("long-array", '["1", "1", "room:lobby", "phx_join", {}, 6]', 1008),
    ("topic-int", '["1", "1", 5, "phx_join", {}]', 1008),
    ("event-null", '["1", "1", "room:lobby", null, {}]', 1008),
    ("refs-objects", '[{}, [], "room:lobby", "phx_join", {}]', 1008),
    ("number", "42", 1008),
    ("null", "null", 1008),
    ("deep", "[" * 1500 + "]" * 1500, (1007, 1008)),
    ("deep-oversized", "[" * 5000 + "]" * 5000, 1009),
    ("bad-utf8", b"\xff\xfe", (1003, 1007)),
    ("binary-garbage", b"\x00\x01\x02", 1003),
    ("binary-push-truncated", b"\x00\xff\x05", 1003),
    ("oversized", '["1","1","room:lobby","new_msg",{"body":"' + "x" * 5000 + '"}]', 1009),
    ("nan", '["1", "1", "room:lobby", "phx_join", {"name": NaN}]', 1007),
]


@pytest.mark.parametrize("case", MALFORMED_FRAMES, ids=[c[0] for c in MALFORMED_FRAMES])
def test_malformed_phoenix_frames_close_the_socket(client: TestClient, case: tuple[Any, ...]) -> None:
    _, frame, codes = case
    allowed = codes if isinstance(codes, tuple) else (codes,)
    assert ws_close_code(client, SOCKET, frame) in allowed


@pytest.mark.parametrize(
    "frame",
    ['{"topic": 5}', '{"topic": "room:lobby", "event": "phx_join", "payload": {"name": "a"}, "ref": {}}',
     '["1","1","room:lobby","phx_join",{}]', '{"topic": "room:lobby", "event": "phx_join", "payload": 5, "ref": "1"}'],
)
def test_malformed_v1_frames(client: TestClient, frame: str) -> None:
    with client.websocket_connect(f"/socket/websocket?vsn=1.0.0&token={GOOD_TOKEN}", timeout=3) as ws:
        ws.send_text(frame)
        try:
            answer = ws.receive_json()
        except WebSocketDisconnect as closed:
            assert closed.code in (1007, 1008)
        else:
            assert answer["payload"]["status"] == "error", answer
            assert answer["payload"]["response"].get("reason") != "internal error"


@pytest.mark.parametrize("vsn", ["3.0.0", "garbage", "", "2.0.0.0", "\u00e9", "1" * 1000])
def test_unknown_serializer_versions_are_refused(client: TestClient, vsn: str) -> None:
    with pytest.raises((WebSocketDenied, WebSocketDisconnect)):
        with client.websocket_connect(f"/socket/websocket?vsn={vsn}&token={GOOD_TOKEN}", timeout=3) as ws:
            ws.receive()


def test_channel_socket_cross_origin_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDenied):
        with client.websocket_connect(SOCKET, headers={"origin": "https://evil.example"}, timeout=3) as ws:
            ws.receive()


# -- long polling ---------------------------------------------------------------------------
LONGPOLL = "/socket/longpoll"


def open_session(client: TestClient) -> list[tuple[str, str]]:
    params = [("token", GOOD_TOKEN), ("vsn", "2.0.0")]
    opened = client.get(LONGPOLL, params=params)
    assert opened.status_code == 200 and opened.json()["status"] == 410
    return [*params, ("token", opened.json()["token"])]


@pytest.mark.parametrize(
    "token", ["garbage", "", "a" * 5000, "..", "\u00e9", "SFMyNTY.g2gDbQ.x", "0", "%00"]
)
def test_longpoll_with_a_garbage_session_token(client: TestClient, token: str) -> None:
    params = [("vsn", "2.0.0"), ("token", GOOD_TOKEN), ("token", token)]
    response = client.get(LONGPOLL, params=params)
    safe(response)
    assert response.status_code in (200, 400, 410)
    if response.status_code == 200:
        assert response.json()["status"] == 410
    posted = client.post(LONGPOLL, params=params, content=b'["1","1","room:lobby","phx_join",{"name":"a"}]')
    safe(posted)
    assert posted.status_code in (200, 400, 410)


@pytest.mark.parametrize(
    "body, statuses",
    [
        (b"garbage", (200, 400)),
        (b"\xff\xfe", (200, 400)),
        (b"", (200, 204, 400)),
        (b"\n\n\n", (200, 204, 400)),
        (b'{"a": 1}', (200, 400)),
        (b"[" * 1500 + b"]" * 1500, (200, 400)),
        (b'["1","1","room:lobby","phx_join",{"name":"a"}]\n' * 200, (200, 400, 413)),
        (b'["1","1","room:lobby","new_msg",{"body":"' + b"x" * 5000 + b'"}]', (400, 413)),
        (b"x" * (MAX_BODY + 10), (413,)),
    ],
)
def test_longpoll_garbage_posts(client: TestClient, body: bytes, statuses: tuple[int, ...]) -> None:
    session = open_session(client)
    response = client.post(LONGPOLL, params=session, content=body)
    safe(response)
    assert response.status_code in statuses, (response.status_code, response.text[:300])


def test_longpoll_oversized_frame_is_413_and_ends_the_session(client: TestClient) -> None:
    session = open_session(client)
    frame = b'["1","1","room:lobby","new_msg",{"body":"' + b"x" * 5000 + b'"}]'
    expect(client.post(LONGPOLL, params=session, content=frame), 413)
    deadline = time.monotonic() + 3
    while (answer := client.get(LONGPOLL, params=session)).json()["status"] != 410:
        assert time.monotonic() < deadline, answer.text  # the session is ending
    assert answer.json()["token"] != session[-1][1]  # gone: a new session was opened


@pytest.mark.parametrize("vsn", ["9.9.9", "garbage", "\u00e9"])
def test_longpoll_unknown_vsn_is_refused(client: TestClient, vsn: str) -> None:
    response = client.get(LONGPOLL, params=[("token", GOOD_TOKEN), ("vsn", vsn)])
    safe(response)
    assert response.status_code in (400, 403, 410) or response.json().get("status") != 200


@pytest.mark.parametrize("token", ["garbage", "", "x" * 9000, "\u00e9".encode().decode("latin-1")])
def test_longpoll_auth_token_header_garbage(client: TestClient, token: str) -> None:
    response = client.get(LONGPOLL, params=[("token", GOOD_TOKEN), ("vsn", "2.0.0")],
                          headers={"x-phoenix-authtoken": token.encode("latin-1")})
    safe(response)
    assert response.status_code in (200, 400, 403)


def test_longpoll_odd_methods(client: TestClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        expect(client.request(method, LONGPOLL), 405)


# -- Conduit --------------------------------------------------------------------------------
def conduit_safe(response: httpx.Response, statuses: tuple[int, ...]) -> None:
    safe(response, problem=False)
    assert response.status_code in statuses, (response.status_code, response.text[:300])


CONDUIT_CASES = [
    pytest.param("GET", "/api/articles?offset=9223372036854775808", {}, (422,), id="offset-beyond-int64"),
    pytest.param("GET", "/api/articles?limit=9223372036854775808", {}, (422,), id="limit-beyond-int64"),
    pytest.param("GET", "/api/articles?offset=" + "9" * 30, {}, (422,), id="offset-huge"),
    pytest.param("GET", "/api/articles?limit=-1", {}, (422,), id="limit-negative"),
    pytest.param("GET", "/api/articles?limit=abc&offset=x", {}, (422,), id="limit-garbage"),
    pytest.param("GET", "/api/articles?tag=%ff", {}, (400, 422), id="tag-bad-utf8"),
    pytest.param("GET", "/api/articles?tag=%00", {}, (200,), id="tag-nul"),
    pytest.param("GET", "/api/articles?author=" + "a" * 10000, {}, (200,), id="author-long"),
    pytest.param("GET", "/api/articles/" + "s" * 10000, {}, (404,), id="slug-long"),
    pytest.param("GET", "/api/articles/%00", {}, (404,), id="slug-nul"),
    pytest.param("GET", "/api/articles/%ff", {}, (400, 404), id="slug-bad-utf8"),
    pytest.param("GET", "/api/profiles/%27%20OR%201=1--", {}, (404,), id="profile-sqli"),
    pytest.param("GET", "/api/articles/x/comments", {}, (404,), id="comments-missing-article"),
    pytest.param("DELETE", "/api/articles/x/comments/99999999999999999999", {}, (401, 404, 422), id="comment-id-overflow-anon"),
    pytest.param("GET", "/api/user", {"headers": {"authorization": "Token " + FORGED_TOKENS["alg-none"]}}, (401,), id="token-alg-none"),
    pytest.param("GET", "/api/user", {"headers": {"authorization": "Token " + FORGED_TOKENS["wrong-secret"]}}, (401,), id="token-forged"),
    pytest.param("GET", "/api/user", {"headers": {"authorization": "Token " + FORGED_TOKENS["expired"]}}, (401,), id="token-expired"),
    pytest.param("GET", "/api/user", {"headers": {"authorization": "Token"}}, (401,), id="token-empty"),
    pytest.param("GET", "/api/user", {"headers": {"authorization": "Token " + "x" * 9000}}, (401,), id="token-huge"),
    pytest.param("GET", "/api/articles", {"headers": {"authorization": "Token garbage"}}, (401,), id="optional-auth-garbage"),
    pytest.param("POST", "/api/users", {"content": b"", "headers": JSON}, (422,), id="register-empty"),
    pytest.param("POST", "/api/users", {"content": b"{oops", "headers": JSON}, (422,), id="register-malformed"),
    pytest.param("POST", "/api/users", {"json": {"user": []}}, (422,), id="register-user-list"),
    pytest.param("POST", "/api/users", {"json": {"user": {"username": 5, "email": [], "password": None}}}, (422,), id="register-wrong-types"),
    pytest.param("POST", "/api/users", {"content": b'{"user":' * 3000 + b"}" * 3000, "headers": JSON}, (422,), id="register-deep"),
    pytest.param("POST", "/api/users", {"content": b'{"user":{"username":"\\ud800","email":"a@b.c","password":"secret-password"}}', "headers": JSON}, (201, 422), id="register-lone-surrogate"),
    pytest.param("POST", "/api/users", {"content": b'{"user":{}}', "headers": {"content-type": "text/plain"}}, (415,), id="register-text-plain"),
    pytest.param("POST", "/api/users", {"content": b'{"user":{}}'}, (415,), id="register-no-content-type"),
    pytest.param("POST", "/api/users", {"content": b"x" * (2 * 1024 * 1024), "headers": JSON}, (413,), id="register-oversized"),
    pytest.param("POST", "/api/users/login", {"json": {"user": {"email": "nobody@example.com", "password": "x"}}}, (401, 422), id="login-unknown"),
    pytest.param("POST", "/api/users/login", {"json": {"user": {"email": {"$gt": ""}, "password": {"$gt": ""}}}}, (422,), id="login-injection"),
    pytest.param("PUT", "/api/user", {"json": {"user": {"email": "x"}}}, (401,), id="update-anon"),
    pytest.param("POST", "/api/articles", {"json": {"article": {"title": "t"}}}, (401, 422), id="create-anon"),
    pytest.param("OPTIONS", "/api/articles", {"headers": {"origin": "https://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "x-evil"}}, (400,), id="cors-bad-header"),
    pytest.param("OPTIONS", "/api/articles", {"headers": {"origin": "https://evil.example", "access-control-request-method": "TRACE"}}, (400,), id="cors-bad-method"),
    pytest.param("TRACE", "/api/articles", {}, (405,), id="trace"),
]


@pytest.mark.parametrize("method, path, kwargs, statuses", CONDUIT_CASES)
def test_conduit_hostile_request(conduit: TestClient, method: str, path: str, kwargs: dict[str, Any], statuses: tuple[int, ...]) -> None:
    conduit_safe(conduit.request(method, path, **kwargs), statuses)


@pytest.fixture(scope="module")
def conduit_author(conduit_started: TestClient) -> dict[str, str]:
    body = {"user": {"username": "prober", "email": "prober@example.com", "password": "secret-password"}}
    response = conduit_started.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    headers = {"authorization": f"Token {response.json()['user']['token']}"}
    article = {"article": {"title": "Probe", "description": "d", "body": "b", "tagList": ["x"]}}
    assert conduit_started.post("/api/articles", json=article, headers=headers).status_code == 201
    return headers


CONDUIT_AUTHED = [
    pytest.param("POST", "/api/articles", {"json": {"article": {"title": "t", "description": "d", "body": "b", "tagList": "notalist"}}}, (422,), id="tags-not-list"),
    pytest.param("POST", "/api/articles", {"json": {"article": {"title": "t", "description": "d", "body": "b", "tagList": [{}]}}}, (422,), id="tags-objects"),
    pytest.param("POST", "/api/articles", {"json": {"article": {"title": "x" * 100_000, "description": "d", "body": "b"}}}, (413, 422), id="title-huge"),
    pytest.param("POST", "/api/articles", {"json": {"article": {"title": "\u0000", "description": "d", "body": "b"}}}, (201, 422), id="title-nul"),
    pytest.param("POST", "/api/articles", {"json": {"article": {"title": "///..", "description": "d", "body": "b"}}}, (201, 422), id="title-slashes"),
    pytest.param("PUT", "/api/articles/probe", {"json": {"article": {"title": None}}}, (200, 422), id="update-title-null"),
    pytest.param("PUT", "/api/articles/probe", {"json": {"article": []}}, (422,), id="update-list"),
    pytest.param("PUT", "/api/user", {"json": {"user": {"image": 5}}}, (422,), id="user-image-int"),
    pytest.param("PUT", "/api/user", {"json": {"user": {"email": ""}}}, (422,), id="user-email-empty"),
    pytest.param("POST", "/api/articles/probe/comments", {"json": {"comment": {"body": ["x"]}}}, (422,), id="comment-list"),
    pytest.param("POST", "/api/articles/probe/comments", {"json": {"comment": None}}, (422,), id="comment-null"),
    pytest.param("DELETE", "/api/articles/probe/comments/99999999999999999999", {}, (404, 422), id="comment-id-overflow"),
    pytest.param("DELETE", "/api/articles/probe/comments/-1", {}, (404, 422), id="comment-id-negative"),
    pytest.param("DELETE", "/api/articles/probe/comments/abc", {}, (404, 422), id="comment-id-text"),
    pytest.param("GET", "/api/articles/feed?offset=9223372036854775808", {}, (422,), id="feed-offset-overflow"),
    pytest.param("POST", "/api/profiles/" + "%ff" * 3 + "/follow", {}, (400, 404), id="follow-bad-utf8"),
    pytest.param("POST", "/api/articles/%2e%2e/favorite", {}, (404,), id="favorite-dots"),
]


@pytest.mark.parametrize("method, path, kwargs, statuses", CONDUIT_AUTHED)
def test_conduit_hostile_authenticated_request(
    conduit: TestClient, conduit_author: dict[str, str], method: str, path: str, kwargs: dict[str, Any], statuses: tuple[int, ...]
) -> None:
    kwargs = dict(kwargs)
    headers = {**conduit_author, **kwargs.pop("headers", {})}
    conduit_safe(conduit.request(method, path, headers=headers, **kwargs), statuses)
