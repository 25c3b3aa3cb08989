import pytest

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import JSONResponse, Response
from bastion.middleware.cors import CORS


def make_request(method: str = "GET", headers: dict[str, str] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
        "query_string": b"",
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


class App:
    """A call_next that records whether it was reached."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, request: Request) -> Response:
        self.calls += 1
        return JSONResponse({"ok": True})


def header(response: Response, name: str) -> list[bytes]:
    return [v for k, v in response.raw_headers if k == name.encode()]


PREFLIGHT = {"origin": "https://a.example", "access-control-request-method": "POST"}


async def test_request_without_origin_passes_untouched():
    response = await CORS()(make_request(), App())
    assert response.raw_headers == [(b"content-type", b"application/json")]


async def test_wildcard_answers_star_without_vary():
    response = await CORS()(make_request(headers={"origin": "https://a.example"}), App())
    assert header(response, "access-control-allow-origin") == [b"*"]
    assert header(response, "vary") == []
    assert header(response, "access-control-allow-credentials") == []


async def test_listed_origin_is_echoed_with_vary_and_credentials():
    cors = CORS(allow_origins=["https://a.example"], allow_credentials=True)
    response = await cors(make_request(headers={"origin": "https://a.example"}), App())
    assert header(response, "access-control-allow-origin") == [b"https://a.example"]
    assert header(response, "vary") == [b"origin"]
    assert header(response, "access-control-allow-credentials") == [b"true"]


async def test_unlisted_origin_gets_no_permission_but_still_varies():
    cors = CORS(allow_origins=["https://a.example"])
    app = App()
    response = await cors(make_request(headers={"origin": "https://evil.example"}), app)
    assert app.calls == 1
    assert header(response, "access-control-allow-origin") == []
    assert header(response, "vary") == [b"origin"]


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("https://x.example", True),
        ("https://x.example.evil.com", False),
        ("http://x.example", False),
    ],
)
async def test_origin_regex_must_match_the_whole_origin(origin, allowed):
    cors = CORS(allow_origins=[], allow_origin_regex=r"https://[a-z]+\.example")
    response = await cors(make_request(headers={"origin": origin}), App())
    assert (header(response, "access-control-allow-origin") == [origin.encode()]) is allowed


async def test_expose_headers_are_listed_on_simple_responses():
    cors = CORS(expose_headers=["x-total", "x-page"])
    response = await cors(make_request(headers={"origin": "https://a.example"}), App())
    assert header(response, "access-control-expose-headers") == [b"x-total, x-page"]


async def test_preflight_is_answered_without_reaching_the_app():
    app = App()
    cors = CORS(allow_headers=["X-Token"], max_age=99)
    request = make_request("OPTIONS", {**PREFLIGHT, "access-control-request-headers": "X-Token"})
    response = await cors(request, app)
    assert app.calls == 0
    assert response.status_code == 204
    assert response.body == b""
    assert header(response, "access-control-allow-origin") == [b"*"]
    assert b"POST" in header(response, "access-control-allow-methods")[0].split(b", ")
    assert header(response, "access-control-allow-headers") == [b"x-token"]
    assert header(response, "access-control-max-age") == [b"99"]


async def test_preflight_for_a_json_body_is_allowed_by_default():
    request = make_request(
        "OPTIONS", {**PREFLIGHT, "access-control-request-headers": "content-type"}
    )
    response = await CORS()(request, App())
    assert response.status_code == 204
    assert header(response, "access-control-allow-headers") == [b"content-type"]


async def test_credentialed_preflight_echoes_the_origin():
    cors = CORS(allow_origins=["https://a.example"], allow_credentials=True)
    response = await cors(make_request("OPTIONS", PREFLIGHT), App())
    assert response.status_code == 204
    assert header(response, "access-control-allow-origin") == [b"https://a.example"]
    assert header(response, "vary") == [b"origin"]
    assert header(response, "access-control-allow-credentials") == [b"true"]


@pytest.mark.parametrize(
    "cors, extra, reason",
    [
        (CORS(allow_origins=["https://b.example"]), {}, "origin not allowed: https://a.example"),
        (CORS(allow_methods=["GET"]), {}, "method POST not allowed"),
        (
            CORS(),
            {"access-control-request-headers": "x-evil, accept"},
            "headers not allowed: x-evil",
        ),
    ],
    ids=["origin", "method", "headers"],
)
async def test_refused_preflight_is_a_400_problem_naming_the_reason(cors, extra, reason):
    app = App()
    response = await cors(make_request("OPTIONS", {**PREFLIGHT, **extra}), app)
    assert app.calls == 0
    assert response.status_code == 400
    assert header(response, "content-type") == [b"application/problem+json"]
    assert header(response, "access-control-allow-origin") == []
    assert reason in response.body.decode()


async def test_options_without_request_method_reaches_the_app():
    app = App()
    response = await CORS()(make_request("OPTIONS", {"origin": "https://a.example"}), app)
    assert app.calls == 1
    assert response.status_code == 200
    assert header(response, "access-control-allow-origin") == [b"*"]


async def test_any_method_reflects_the_requested_one():
    request = make_request("OPTIONS", {**PREFLIGHT, "access-control-request-method": "PROPFIND"})
    response = await CORS(allow_methods=["*"])(request, App())
    assert response.status_code == 204
    assert header(response, "access-control-allow-methods") == [b"PROPFIND"]


def test_wildcard_with_credentials_is_refused_at_construction():
    with pytest.raises(ConfigurationError, match=r"allow_credentials=True.*list the trusted"):
        CORS(allow_origins=["*"], allow_credentials=True)


@pytest.mark.parametrize(
    "options",
    [
        {"allow_origins": ["https://a.example/"]},
        {"allow_origins": ["a.example"]},
        {"allow_origins": []},
        {"allow_origin_regex": "https://(unclosed"},
        {"max_age": -1},
    ],
)
def test_bad_configuration_fails_at_construction(options):
    with pytest.raises(ConfigurationError, match="CORS"):
        CORS(**options)
