import re

import pytest

from bastion import App, Request, Response, Settings
from bastion.exceptions import ConfigurationError
from bastion.security import SecurityHeaders, SecurityPlugin, csp_nonce
from bastion.testing import TestClient
from tests.security._apps import BASE, SECRET, templated_app


def app_with(*middleware, profile="test", **settings) -> App:
    app = App(settings=Settings(profile=profile, **settings), middleware=list(middleware))

    @app.get("/")
    async def index() -> str:
        return "hi"

    @app.get("/own")
    async def own() -> Response:
        return Response(b"x", headers={"content-security-policy": "default-src 'none'"})

    @app.get("/nonce")
    async def nonce(request: Request) -> dict[str, str]:
        return {"nonce": csp_nonce(request)}

    return app


def test_defaults():
    headers = TestClient(app_with(SecurityHeaders()), base_url=BASE).get("/").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
    assert headers["permissions-policy"].startswith("camera=(), microphone=(), geolocation=()")
    assert headers["content-security-policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def test_hsts_only_over_https():
    headers = TestClient(app_with(SecurityHeaders())).get("/").headers
    assert "strict-transport-security" not in headers
    assert headers["x-frame-options"] == "DENY"


def test_headers_land_on_errors_too():
    response = TestClient(app_with(SecurityHeaders()), base_url=BASE).get("/missing")
    assert response.status_code == 404
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_header_set_by_the_handler_wins():
    response = TestClient(app_with(SecurityHeaders()), base_url=BASE).get("/own")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]


def test_nonce_is_added_to_script_and_style_sources_and_changes_per_request():
    client = TestClient(app_with(SecurityHeaders()), base_url=BASE)
    first, second = client.get("/nonce"), client.get("/nonce")
    nonce = first.json()["nonce"]
    assert len(nonce) >= 22 and nonce != second.json()["nonce"]
    csp = first.headers["content-security-policy"]
    assert f"script-src 'self' 'nonce-{nonce}';" in csp
    assert f"style-src 'self' 'nonce-{nonce}';" in csp
    assert "nonce" not in client.get("/").headers["content-security-policy"]


def test_nonce_falls_back_to_default_src():
    app = app_with(SecurityHeaders(csp={"default-src": ["'self'"]}, frame_options=None))
    response = TestClient(app).get("/nonce")
    nonce = response.json()["nonce"]
    assert response.headers["content-security-policy"] == f"default-src 'self' 'nonce-{nonce}'"
    assert "x-frame-options" not in response.headers


def test_options_change_or_remove_each_header():
    middleware = SecurityHeaders(
        hsts_max_age=300,
        hsts_include_subdomains=False,
        hsts_preload=True,
        csp=None,
        frame_options="SAMEORIGIN",
        referrer_policy="no-referrer",
        permissions_policy={"fullscreen": ["self", "https://video.example"]},
        cross_origin_opener_policy=None,
        content_type_options=False,
    )
    headers = TestClient(app_with(middleware), base_url=BASE).get("/").headers
    assert headers["strict-transport-security"] == "max-age=300; preload"
    assert "content-security-policy" not in headers
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["permissions-policy"] == 'fullscreen=(self "https://video.example")'
    assert "cross-origin-opener-policy" not in headers
    assert "x-content-type-options" not in headers


def test_report_only_and_per_path_overrides():
    middleware = SecurityHeaders(csp_report_only=True, csp_overrides={"/own": None, "/": {"default-src": ["'none'"]}})
    client = TestClient(app_with(middleware))
    headers = client.get("/").headers
    assert "content-security-policy" not in headers
    assert headers["content-security-policy-report-only"] == "default-src 'none'; frame-ancestors 'none'"


def test_plugin_turns_hsts_off_in_dev_and_on_in_prod():
    dev = App(settings=Settings(profile="dev"), plugins=[SecurityPlugin()])
    dev.get("/")(lambda: "x")
    assert "strict-transport-security" not in TestClient(dev, base_url=BASE).get("/").headers
    prod = App(settings=Settings(profile="prod", secret_key=SECRET), plugins=[SecurityPlugin()])
    prod.get("/")(lambda: "x")
    assert "strict-transport-security" in TestClient(prod, base_url=BASE).get("/").headers
    debug = App(settings=Settings(profile="test", debug=True), plugins=[SecurityPlugin()])
    debug.get("/")(lambda: "x")
    assert "strict-transport-security" not in TestClient(debug, base_url=BASE).get("/").headers


def test_plugin_relaxes_csp_for_the_docs_page_only():
    app = App(settings=Settings(profile="test"), plugins=[SecurityPlugin()])
    app.get("/")(lambda: "x")
    client = TestClient(app, base_url=BASE)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["content-security-policy"]
    assert "unsafe-inline" not in client.get("/").headers["content-security-policy"]


def test_templates_get_a_nonce_matching_the_header(tmp_path):
    client = TestClient(templated_app(tmp_path), base_url=BASE)
    response = client.get("/form")
    nonce = re.search(r"nonce='([^']+)'", response.text).group(1)
    assert f"'nonce-{nonce}'" in response.headers["content-security-policy"]


def test_csp_nonce_without_the_middleware_says_what_to_add():
    with pytest.raises(ConfigurationError, match="SecurityPlugin"):
        TestClient(app_with()).get("/nonce")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"frame_options": "ALLOWALL"}, "frame_options"),
        ({"csp": {"script-src": "'self'"}}, "list of sources"),
        ({"csp": {"script-src": ["'self'; img-src *"]}}, "single source"),
        ({"csp": {"Script Src": ["'self'"]}}, "lower-case"),
        ({"hsts_max_age": -1}, "hsts_max_age"),
        ({"referrer_policy": "no-referrer\r\nx-evil: 1"}, "printable ASCII"),
        ({"permissions_policy": {"camera": "self"}}, "list of origins"),
    ],
)
def test_misconfiguration_fails_at_construction(options, message):
    with pytest.raises(ConfigurationError, match=message):
        SecurityHeaders(**options)


def test_mounted_apps_and_static_files_get_the_headers_too(tmp_path):
    from bastion.http.static import StaticFiles

    (tmp_path / "app.js").write_text("go()")
    app = app_with(SecurityHeaders())
    app.mount("/static", StaticFiles(tmp_path), name="static")
    response = TestClient(app, base_url=BASE).get("/static/app.js")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["strict-transport-security"].startswith("max-age=")
