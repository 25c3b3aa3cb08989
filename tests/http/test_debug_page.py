"""The dev debug page: source with context, locals, the request, route and app, masking,
chained exceptions, plain text for curl, and nothing of it in prod."""

from __future__ import annotations

import re

import msgspec

from bastion import App, Settings
from bastion.testing import TestClient

SECRET = "s3cr3t-signing-key-0123456789abcdefghij"
HTML = {"accept": "text/html,application/xhtml+xml"}


class Config(Settings, kw_only=True):
    stripe_api_key: str = "sk_live_abcdefghijklmnop"


class Unprintable:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")


class Order(msgspec.Struct):
    item: str
    password: str


def make_app(profile: str = "dev") -> App[object]:
    app = App(settings=Config(profile=profile, secret_key=SECRET))  # type: ignore[arg-type]

    @app.post("/orders/{order_id:int}", tags=["orders"])
    async def place_order(order_id: int, order: Order) -> dict[str, str]:
        user_password = order.item.upper() + "-hunter"  # noqa: F841
        leaked = f"signing with {SECRET}"
        huge = "x" * 50_000
        odd = Unprintable()
        quantity = 41  # noqa: F841
        raise RuntimeError(f"cannot place order {order_id}: {leaked} {huge[:3]} {odd is None}")

    @app.get("/chained")
    async def chained() -> str:
        try:
            {}["missing"]
        except KeyError as exc:
            raise LookupError("the lookup failed") from exc
        return "never"

    @app.get("/context")
    async def context() -> str:
        try:
            int("nope")
        except ValueError:
            {}["gone"]
        return "never"

    return app


def post_order(client: TestClient, headers: dict[str, str]):
    return client.post(
        "/orders/7?token=abc123&page=2",
        json={"item": "book", "password": "body-pass-99"},
        headers={
            **headers,
            "authorization": "Bearer tok-xyz-987",
            "cookie": "session=sess-value-321; theme=dark",
            "x-trace": "visible-header",
        },
    )


def test_html_page_shows_source_with_context_and_locals():
    client = TestClient(make_app(), raise_server_exceptions=False)
    page = post_order(client, HTML)
    assert page.status_code == 500
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    text = page.text
    # The failing frame's source, with lines before and after the failing one.
    assert "raise RuntimeError(f&quot;cannot place order" in text
    assert "quantity = 41" in text  # a context line before it
    assert re.search(r"<tr class='hit'><td>\d+</td><td>\s+raise RuntimeError", text)
    # Locals, repr'd.
    assert "<th>order_id</th><td><code>7</code>" in text
    assert "<th>quantity</th><td><code>41</code>" in text
    assert "Order(item=&#x27;book&#x27;" in text


def test_page_shows_request_route_and_app():
    client = TestClient(make_app(), raise_server_exceptions=False)
    text = post_order(client, HTML).text
    assert "<th>Method</th><td><code>POST</code>" in text
    assert "/orders/7?token=" in text and "page=2" in text
    assert "visible-header" in text
    assert "<th>Route</th><td><code>POST /orders/{order_id:int}</code>" in text
    assert "place_order" in text and "<th>Tags</th><td><code>orders</code>" in text
    assert "<th>Profile</th><td><code>dev</code>" in text
    assert "book" in text  # the body preview
    assert 'id="copy"' in text and "navigator.clipboard" in text


def test_secrets_are_masked_by_name_and_by_settings_value():
    client = TestClient(make_app(), raise_server_exceptions=False)
    for headers in (HTML, {"accept": "*/*"}, {"accept": "application/json"}):
        text = post_order(client, headers).text
        assert "BOOK-hunter" not in text  # a local named *password*
        assert "body-pass-99" not in text  # a field named password inside a repr
        assert SECRET not in text  # the settings' secret key, inside another local and message
        assert "tok-xyz-987" not in text  # Authorization header
        assert "sess-value-321" not in text  # cookies
        assert "abc123" not in text  # a query parameter named token
        assert "body-pass-99" not in text  # a JSON body field named password
        assert "********" in text or headers["accept"] == "application/json"
    text = post_order(client, HTML).text
    assert "<th>user_password</th><td><code>********</code>" in text
    assert "signing with ********" in text
    assert "<th>theme</th><td><code>********</code>" in text  # every cookie is masked


def test_settings_secrets_of_the_apps_own_fields_are_masked():
    app = make_app()

    @app.get("/pay")
    async def pay() -> str:
        raise RuntimeError(f"charge failed with {app.settings.stripe_api_key}")  # type: ignore[attr-defined]

    text = TestClient(app, raise_server_exceptions=False).get("/pay", headers=HTML).text
    assert "sk_live_abcdefghijklmnop" not in text
    assert "charge failed with ********" in text


def test_reprs_are_bounded_and_a_failing_repr_does_not_break_the_page():
    client = TestClient(make_app(), raise_server_exceptions=False)
    text = post_order(client, HTML).text
    assert "&lt;Unprintable object; repr() raised ValueError&gt;" in text
    assert "x" * 1000 not in text
    huge = re.search(r"<th>huge</th><td><code>([^<]*)</code>", text)
    assert huge is not None and len(huge.group(1)) < 500


def test_chained_exceptions_are_shown_with_their_relation():
    client = TestClient(make_app(), raise_server_exceptions=False)
    html_page = client.get("/chained", headers=HTML).text
    assert "LookupError" in html_page and "KeyError" in html_page
    assert "direct cause of the following exception" in html_page
    text = client.get("/chained", headers={"accept": "*/*"}).text
    assert text.index("KeyError") < text.index("direct cause") < text.index("LookupError:")
    implicit = client.get("/context", headers={"accept": "*/*"}).text
    assert "ValueError: invalid literal" in implicit
    assert "During handling of the above exception, another exception occurred" in implicit
    assert implicit.index("ValueError") < implicit.index("KeyError: 'gone'")


def test_curl_gets_the_same_report_as_plain_text():
    client = TestClient(make_app(), raise_server_exceptions=False)
    for accept in ("*/*", "text/plain", None):
        headers = {"accept": accept} if accept else {}
        response = post_order(client, headers)
        assert response.status_code == 500
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        text = response.text
        assert text.startswith("Traceback (most recent call last):")
        assert "line" in text and "in place_order" in text
        assert "raise RuntimeError" in text
        assert "        quantity = 41" in text
        assert "RuntimeError: cannot place order 7" in text
        assert "Route:\n  Route: POST /orders/{order_id:int}" in text
        assert "authorization: ********" in text


def test_the_page_carries_its_own_csp_with_a_nonce():
    page = post_order(TestClient(make_app(), raise_server_exceptions=False), HTML)
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert f'<script nonce="{nonce}">' in page.text
    assert "default-src 'none'" in policy


def test_never_shown_in_prod():
    client = TestClient(make_app("prod"), raise_server_exceptions=False)
    for headers in (HTML, {"accept": "*/*"}, {"accept": "application/json"}):
        response = post_order(client, headers)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        body = response.text
        for leak in ("Traceback", "RuntimeError", "place_order", "quantity", "hunter2"):
            assert leak not in body


def test_never_shown_when_debug_is_off_in_dev():
    app = App(settings=Settings(profile="dev", debug=False))

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("internal detail")

    response = TestClient(app, raise_server_exceptions=False).get("/boom", headers=HTML)
    assert response.headers["content-type"] == "application/problem+json"
    assert "internal detail" not in response.text


def test_errors_from_middleware_still_get_a_page():
    async def broken(request, call_next):
        raise RuntimeError("middleware broke")

    app = App(settings=Settings(profile="dev"), middleware=[broken])

    @app.get("/x")
    async def x() -> str:
        return "x"

    response = TestClient(app, raise_server_exceptions=False).get("/x", headers=HTML)
    assert response.status_code == 500
    assert "middleware broke" in response.text
    assert "<th>Route</th>" in response.text


def test_deep_recursion_and_a_raising_str_still_give_a_bounded_page():
    class Odd(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str either")

    app = make_app()

    def dive(n: int) -> int:
        return dive(n + 1)

    @app.get("/deep")
    async def deep() -> int:
        return dive(0)

    @app.get("/odd")
    async def odd() -> str:
        raise Odd()

    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/deep", headers=HTML)
    assert page.status_code == 500 and "RecursionError" in page.text
    assert page.text.count("<details class='frame") <= 60
    assert len(page.content) < 2_000_000
    text = client.get("/odd", headers={"accept": "*/*"}).text
    assert "Odd: <str() raised RuntimeError>" in text


def test_masking_by_name_spares_look_alikes():
    from bastion.middleware._debug_info import SECRET_NAME

    for secret in ("password", "db_passwd", "API_KEY", "authorization", "csrf_token", "pwd"):
        assert SECRET_NAME.search(secret), secret
    for plain in ("author", "author_id", "passenger", "compass", "count"):
        assert not SECRET_NAME.search(plain), plain
