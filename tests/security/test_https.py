import pytest

from bastion import App, Settings
from bastion.exceptions import ConfigurationError
from bastion.security import HTTPSRedirect, SecurityPlugin
from bastion.testing import TestClient


def app_with(*middleware, plugins=()) -> App:
    app = App(settings=Settings(profile="test"), middleware=list(middleware), plugins=list(plugins))
    app.get("/a/{name}")(lambda name: name)
    app.post("/a/{name}")(lambda name: name)
    app.get("/healthz")(lambda: "ok")
    return app


def test_plain_http_is_redirected_with_path_and_query():
    client = TestClient(app_with(HTTPSRedirect()), follow_redirects=False)
    response = client.post("/a/x?y=1&z=%2F")
    assert response.status_code == 308  # keeps POST and its body
    assert response.headers["location"] == "https://testserver/a/x?y=1&z=%2F"


def test_https_is_served():
    response = TestClient(app_with(HTTPSRedirect()), base_url="https://testserver").get("/a/b")
    assert response.status_code == 200 and response.text == "b"


def test_port_80_is_dropped_and_other_ports_kept():
    client = TestClient(app_with(HTTPSRedirect()), follow_redirects=False)
    assert client.get("/a/b", headers={"host": "example.com:80"}).headers["location"] == "https://example.com/a/b"
    assert client.get("/a/b", headers={"host": "example.com:8080"}).headers["location"] == "https://example.com:8080/a/b"


def test_encoded_characters_in_the_path_stay_encoded():
    client = TestClient(app_with(HTTPSRedirect()), follow_redirects=False)
    response = client.get("/a/%3Fx%23y%0D%0A")
    assert response.headers["location"] == "https://testserver/a/%3Fx%23y%0D%0A"


@pytest.mark.parametrize("host", ["evil.com/x", "a b", "evil.com\\@x", "", "x@evil.com"])
def test_malformed_host_is_a_400_not_a_redirect(host):
    response = TestClient(app_with(HTTPSRedirect()), follow_redirects=False).get("/a/b", headers={"host": host})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_exempt_paths_and_status():
    client = TestClient(app_with(HTTPSRedirect(status_code=301, exempt_paths=["/healthz"])), follow_redirects=False)
    assert client.get("/healthz").status_code == 200
    assert client.get("/a/b").status_code == 301


def test_plugin_with_trusted_proxy_does_not_loop():
    plugin = SecurityPlugin(trusted_proxies=["127.0.0.1"], https_redirect=True, https_exempt_paths=["/healthz"])
    client = TestClient(app_with(plugins=[plugin]), follow_redirects=False)
    assert client.get("/a/b", headers={"x-forwarded-proto": "https"}).status_code == 200
    assert client.get("/a/b").status_code == 308
    assert client.get("/healthz").status_code == 200


def test_bad_status_fails_at_construction():
    with pytest.raises(ConfigurationError, match="308"):
        HTTPSRedirect(status_code=303)
