"""CORS with credentials, as the security battery relies on it (bastion.middleware.CORS)."""

import pytest

from bastion import App, Settings
from bastion.exceptions import ConfigurationError
from bastion.middleware import CORS
from bastion.security import SecurityPlugin
from bastion.testing import TestClient
from tests.security._apps import BASE, SECRET

TRUSTED = "https://app.example.com"


def app_with_cors() -> App:
    app = App(
        settings=Settings(profile="test", secret_key=SECRET),
        middleware=[CORS(allow_origins=[TRUSTED], allow_credentials=True, allow_headers=["x-csrf-token"])],
        plugins=[SecurityPlugin(csrf={"trusted_origins": [TRUSTED]})],
    )
    app.get("/me")(lambda: {"name": "ann"})
    app.post("/me")(lambda: {"saved": True})
    return app


def test_wildcard_with_credentials_is_refused_at_start_up():
    with pytest.raises(ConfigurationError, match="allow_credentials"):
        CORS(allow_origins=["*"], allow_credentials=True)


def test_trusted_origin_is_echoed_with_vary_and_credentials():
    response = TestClient(app_with_cors(), base_url=BASE).get("/me", headers={"origin": TRUSTED})
    assert response.headers["access-control-allow-origin"] == TRUSTED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in response.headers.get_list("vary")


def test_other_origins_get_no_permission_but_vary():
    response = TestClient(app_with_cors(), base_url=BASE).get("/me", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert "origin" in response.headers.get_list("vary")


def test_preflight_for_an_untrusted_origin_is_refused():
    response = TestClient(app_with_cors(), base_url=BASE).options(
        "/me", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert response.status_code == 400


def test_credentialed_cross_origin_post_from_a_trusted_origin_still_needs_the_token():
    client = TestClient(app_with_cors(), base_url=BASE, cookies={"session": "1"})
    response = client.post("/me", headers={"origin": TRUSTED})
    assert response.status_code == 403
    assert response.json()["reason"] == "missing"
    assert response.headers["access-control-allow-origin"] == TRUSTED  # the page can read why
