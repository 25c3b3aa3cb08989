import pytest

from bastion import App, Request, Settings
from bastion.exceptions import ConfigurationError
from bastion.security import ProxyHeaders, SecurityPlugin
from bastion.testing import TestClient

# The test client connects from 127.0.0.1.


def app_with(*middleware) -> App:
    app = App(settings=Settings(profile="test"), middleware=list(middleware))

    @app.get("/who")
    async def who(request: Request) -> dict[str, object]:
        return {
            "client": request.client[0] if request.client else None,
            "scheme": request.scope["scheme"],
            "host": request.headers.get("host"),
            "url": request.url,
        }

    return app


def who(app: App, **headers: str) -> dict[str, object]:
    return TestClient(app).get("/who", headers=headers).json()


def test_forwarded_headers_from_a_trusted_proxy_are_applied():
    app = app_with(ProxyHeaders(["127.0.0.1"]))
    seen = who(app, **{"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"})
    assert seen["client"] == "203.0.113.7"
    assert seen["scheme"] == "https"
    assert seen["url"] == "https://testserver/who"


def test_forwarded_headers_from_anyone_else_are_ignored():
    app = app_with(ProxyHeaders(["10.0.0.0/8"]))
    seen = who(app, **{"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"})
    assert seen == {"client": "127.0.0.1", "scheme": "http", "host": "testserver",
                    "url": "http://testserver/who"}


def test_the_client_is_the_rightmost_untrusted_hop():
    app = app_with(ProxyHeaders(["127.0.0.1", "10.0.0.0/8"]))
    # The client wrote "1.1.1.1" itself; 198.51.100.9 reached our proxy 10.0.0.5.
    chain = "1.1.1.1, 198.51.100.9, 10.0.0.5"
    assert who(app, **{"x-forwarded-for": chain})["client"] == "198.51.100.9"
    assert who(app, **{"x-forwarded-for": "10.0.0.9, 10.0.0.5"})["client"] == "10.0.0.9"


@pytest.mark.parametrize("chain", ["not-an-ip", "1.1.1.1, <script>", "", " , ", "1.1.1.1:80"])
def test_a_mangled_chain_keeps_the_socket_peer(chain):
    app = app_with(ProxyHeaders(["127.0.0.1"]))
    assert who(app, **{"x-forwarded-for": chain})["client"] == "127.0.0.1"


@pytest.mark.parametrize("proto, scheme", [("https", "https"), ("HTTPS", "https"),
                                           ("http, https", "https"), ("gopher", "http"),
                                           ("javascript", "http")])
def test_proto_takes_the_last_known_value(proto, scheme):
    app = app_with(ProxyHeaders(["127.0.0.1"]))
    assert who(app, **{"x-forwarded-proto": proto})["scheme"] == scheme


def test_forwarded_host_only_when_enabled_and_well_formed():
    off = app_with(ProxyHeaders(["127.0.0.1"]))
    assert who(off, **{"x-forwarded-host": "example.com"})["host"] == "testserver"
    on = app_with(ProxyHeaders(["127.0.0.1"], forwarded_host=True))
    assert who(on, **{"x-forwarded-host": "example.com:8443"})["host"] == "example.com:8443"
    assert who(on, **{"x-forwarded-host": "evil.com/x"})["host"] == "testserver"


def test_wildcard_trusts_any_peer():
    app = app_with(ProxyHeaders("*"))
    assert who(app, **{"x-forwarded-for": "2001:db8::1"})["client"] == "2001:db8::1"


def test_plugin_puts_proxy_headers_before_the_apps_own_middleware():
    seen = []

    async def log_client(request, call_next):
        seen.append((request.client[0], request.scope["scheme"]))
        return await call_next(request)

    plugin = SecurityPlugin(trusted_proxies=["127.0.0.1"])
    app = App(settings=Settings(profile="test"), middleware=[log_client], plugins=[plugin])
    app.get("/")(lambda: "x")
    TestClient(app).get("/", headers={"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"})
    assert seen == [("203.0.113.7", "https")]


@pytest.mark.parametrize("proxies", [[], ["10.0.0.300"], ["example.com"]])
def test_misconfiguration_fails_at_construction(proxies):
    with pytest.raises(ConfigurationError, match="ProxyHeaders"):
        ProxyHeaders(proxies)


def test_rfc_7239_forwarded_is_read_when_asked_for():
    app = app_with(ProxyHeaders(["127.0.0.1", "10.0.0.0/8"], rfc7239=True, forwarded_host=True))
    seen = who(app, forwarded='for=198.51.100.9;proto=http, for="[2001:db8:cafe::17]:4711";'
                             'proto=https;host=shop.example;by=10.0.0.2, for=10.0.0.3')
    assert seen["client"] == "2001:db8:cafe::17"  # the rightmost hop that is not a proxy
    assert (seen["scheme"], seen["host"]) == ("https", "shop.example")
    assert who(app, forwarded="for=192.0.2.60:8080")["client"] == "192.0.2.60"
    # an obfuscated or unknown hop ends the chain: the socket peer stays
    assert who(app, forwarded="for=198.51.100.9, for=_hidden")["client"] == "127.0.0.1"
    assert who(app, forwarded="for=unknown")["client"] == "127.0.0.1"
    assert who(app, forwarded="proto=gopher")["scheme"] == "http"
    # only the header the proxy writes is read: X-Forwarded-For passes through ignored
    assert who(app, **{"x-forwarded-for": "203.0.113.7"})["client"] == "127.0.0.1"


def test_without_rfc7239_a_forwarded_header_is_ignored():
    app = app_with(ProxyHeaders(["127.0.0.1"]))
    assert who(app, forwarded="for=198.51.100.9;proto=https") == who(app)
