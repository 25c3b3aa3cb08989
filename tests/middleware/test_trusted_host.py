import json

import pytest

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import Response, TextResponse
from bastion.middleware.trusted_host import TrustedHost

HOSTS = ["example.com", "*.example.com", "[::1]", "127.0.0.1"]


def make_request(host: str | None, path: str = "/", query: bytes = b"") -> Request:
    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "headers": [*headers, (b"accept", b"*/*")],
        "query_string": query,
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


class App:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, request: Request) -> Response:
        self.calls += 1
        return TextResponse("ok")


def problem(response: Response) -> dict:
    assert (b"content-type", b"application/problem+json") in response.raw_headers
    return json.loads(response.body)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.com:8000",
        "example.com.",
        "api.example.com",
        "a.b.example.com:443",
        "[::1]:8000",
        "[::1]",
        "127.0.0.1:80",
    ],
)
async def test_listed_host_reaches_the_app(host):
    app = App()
    response = await TrustedHost(HOSTS)(make_request(host), app)
    assert app.calls == 1
    assert response.status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.com",
        "example.com.evil.com",
        "notexample.com",
        "evil.com/x.example.com",  # would put evil.com in absolute URLs
        "evil.com?.example.com",
        "example.com:80@evil.com",
        "example.com:",
        "example.com:port",
        ".example.com",
        "[::1",
        "[::2]:80",
        "",
    ],
)
async def test_unlisted_or_malformed_host_is_a_400_problem(host):
    app = App()
    response = await TrustedHost(HOSTS)(make_request(host), app)
    assert app.calls == 0
    assert response.status_code == 400
    assert problem(response)["detail"] == "Invalid host header"


async def test_missing_host_is_a_400_problem():
    response = await TrustedHost(HOSTS)(make_request(None), App())
    assert response.status_code == 400
    assert problem(response)["detail"] == "Missing host header"


@pytest.mark.parametrize("host", ["anything.test", None])
async def test_wildcard_default_does_not_check(host):
    app = App()
    response = await TrustedHost()(make_request(host), app)
    assert app.calls == 1
    assert response.status_code == 200


async def test_bare_domain_redirects_to_www_when_asked():
    middleware = TrustedHost(["www.example.com"], www_redirect=True)
    response = await middleware(make_request("example.com:8443", "/a b", b"x=1"), App())
    assert response.status_code == 307
    assert dict(response.raw_headers)[b"location"] == b"https://www.example.com:8443/a%20b?x=1"


async def test_without_www_redirect_the_bare_domain_is_refused():
    response = await TrustedHost(["www.example.com"])(make_request("example.com"), App())
    assert response.status_code == 400


@pytest.mark.parametrize(
    "hosts",
    [
        [],
        ["example.com:8000"],
        ["https://example.com"],
        ["exa mple.com"],
        ["*example.com"],
        ["bücher.de"],
    ],
)
def test_bad_configuration_fails_at_construction(hosts):
    with pytest.raises(ConfigurationError, match="TrustedHost"):
        TrustedHost(hosts)


async def test_ipv6_may_be_listed_without_brackets():
    app = App()
    await TrustedHost(["::1"])(make_request("[::1]:8000"), app)
    assert app.calls == 1


@pytest.mark.parametrize("second", ["evil.example", "example.com"])
async def test_a_repeated_host_header_is_refused(second):
    """RFC 9112 3.2: more than one Host is a 400; the first was checked while a proxy or
    cache in front may key on the other."""
    request = make_request("example.com")
    request.scope["headers"].append((b"host", second.encode()))
    app = App()
    response = await TrustedHost(HOSTS)(request, app)
    assert (response.status_code, app.calls) == (400, 0)
    assert problem(response)["detail"] == "Invalid host header"
