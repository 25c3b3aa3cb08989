"""The Lambda adapter fed the event shapes AWS documents for each source (tests/serverless/events/,
copied from the AWS docs' examples with the path and body pointed at this app)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bastion import App, Request, Response, Settings
from bastion.serverless import lambda_handler

EVENTS = Path(__file__).parent / "events"


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def make_app(log: list[str]) -> App[Any]:
    async def started() -> None:
        log.append("startup")

    async def stopped() -> None:
        log.append("shutdown")

    app: App[Any] = App(settings=Settings(profile="test"))
    app.on_startup.append(started)
    app.on_shutdown.append(stopped)

    async def echo(request: Request) -> Response:
        body = await request.body()
        seen = {
            "method": request.method,
            "path": request.path,
            "query": sorted(request.query_params.multi_items()),
            "header2": request.headers.getlist("header2"),
            "cookies": request.cookies,
            "client": request.client[0] if request.client else None,
            "scheme": request.url.split(":")[0],
            "body": base64.b64encode(body).decode(),
        }
        response = Response(json.dumps(seen), media_type="application/json")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        response.raw_headers.append((b"vary", b"accept"))
        return response

    async def png() -> Response:
        return Response(b"\x89PNG\r\n\x1a\n\x00\xff", media_type="image/png")

    app.post("/my/path")(echo)
    app.get("/lambda")(echo)
    app.get("/image.png")(png)
    return app


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def handler(log: list[str]) -> Any:
    handler = lambda_handler(make_app(log))
    yield handler
    handler.close()


def seen(response: dict[str, Any]) -> dict[str, Any]:
    assert response["isBase64Encoded"] is False
    loaded: dict[str, Any] = json.loads(response["body"])
    return loaded


def test_rest_v1_event_reads_multi_value_headers_and_query(handler: Any) -> None:
    response = handler(event("rest_v1"), None)
    assert response["statusCode"] == 200
    body = seen(response)
    assert body["method"] == "POST"
    assert body["path"] == "/my/path"
    assert body["query"] == [
        ["parameter1", "value1"],
        ["parameter1", "value2"],
        ["parameter2", "value"],
    ]
    assert body["header2"] == ["value1", "value2"]
    assert body["client"] == "192.0.2.1"
    assert body["scheme"] == "https"
    assert base64.b64decode(body["body"]) == b"Hello from Lambda!"
    # Repeated names go to multiValueHeaders, single ones to headers.
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["vary"] == "accept"
    cookies = response["multiValueHeaders"]["set-cookie"]
    assert [c.split(";")[0] for c in cookies] == ["a=1", "b=2"]
    assert "set-cookie" not in response["headers"]


@pytest.mark.parametrize("name", ["http_v2", "function_url"])
def test_v2_event_reads_cookies_and_replies_with_a_cookies_array(handler: Any, name: str) -> None:
    response = handler(event(name), None)
    assert response["statusCode"] == 200
    body = seen(response)
    assert body["query"] == [
        ["parameter1", "value1"],
        ["parameter1", "value2"],
        ["parameter2", "value"],
    ]
    assert body["cookies"] == {"cookie1": "one", "cookie2": "two"}
    assert body["header2"] == ["value1,value2"]  # v2 joins repeated headers with commas
    assert [c.split(";")[0] for c in response["cookies"]] == ["a=1", "b=2"]
    assert "set-cookie" not in response["headers"]
    assert response["headers"]["vary"] == "accept"
    assert "multiValueHeaders" not in response


def test_function_url_event_body_in_base64_arrives_as_bytes(handler: Any) -> None:
    body = seen(handler(event("function_url"), None))
    assert base64.b64decode(body["body"]) == b"\x00\x01\x02\x03\xff\xfe\xfd"
    assert body["client"] == "123.123.123.123"


def test_alb_single_value_event_gets_headers_and_a_status_description(handler: Any) -> None:
    response = handler(event("alb"), None)
    assert response["statusCode"] == 200
    assert response["statusDescription"] == "200 OK"
    body = seen(response)
    assert body["query"] == [["query", "1234ABCD"]]
    assert body["client"] == "72.12.164.125"
    assert body["scheme"] == "http"
    assert "multiValueHeaders" not in response
    # One value per name in this mode: the last Set-Cookie wins (docs/serverless.md).
    assert response["headers"]["set-cookie"].startswith("b=2")


def test_alb_multi_value_event_gets_multi_value_headers(handler: Any) -> None:
    response = handler(event("alb_multi_value"), None)
    assert response["statusDescription"] == "200 OK"
    body = seen(response)
    # ALB leaves the query percent-encoded; the app sees it decoded once.
    assert body["query"] == [["myKey", "val1"], ["myKey", "val2"], ["q", "a b"]]
    assert body["cookies"] == {"name1": "value1", "name2": "value2"}
    assert "headers" not in response
    headers = response["multiValueHeaders"]
    assert headers["content-type"] == ["application/json"]
    assert [c.split(";")[0] for c in headers["set-cookie"]] == ["a=1", "b=2"]


@pytest.mark.parametrize("name", ["rest_v1", "http_v2", "alb"])
def test_binary_response_is_base64(handler: Any, name: str) -> None:
    request = event(name)
    request["httpMethod"] = "GET"
    request["path"] = request["rawPath"] = "/image.png"
    if "http" in request["requestContext"]:
        request["requestContext"]["http"]["method"] = "GET"
    response = handler(request, None)
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\x89PNG\r\n\x1a\n\x00\xff"


def test_lifespan_runs_once_per_container(handler: Any, log: list[str]) -> None:
    assert log == []  # nothing at import or construction
    for _ in range(3):
        assert handler(event("http_v2"), None)["statusCode"] == 200
    assert log == ["startup"]
    handler.close()
    assert log == ["startup", "shutdown"]


def test_unknown_route_is_the_apps_404(handler: Any) -> None:
    request = event("http_v2")
    request["rawPath"] = "/nowhere"
    response = handler(request, None)
    assert response["statusCode"] == 404


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"Records": [{"eventSource": "aws:s3"}]}, "no requestContext"),
        ({"requestContext": {"stage": "x"}, "version": "3.0"}, "unknown HTTP event shape"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_unknown_event_shape_is_a_400_naming_the_problem(
    handler: Any, bad: Any, words: str, log: list[str]
) -> None:
    response = handler(bad, None)
    assert response["statusCode"] == 400
    assert response["headers"]["content-type"] == "application/problem+json"
    problem = json.loads(response["body"])
    assert problem["status"] == 400 and words in problem["detail"]
    assert "Traceback" not in response["body"]
    assert log == []  # refused before the app starts


@pytest.mark.parametrize("name", ["rest_v1", "http_v2", "function_url", "alb_multi_value"])
def test_malformed_base64_body_is_a_400_in_the_sources_shape(handler: Any, name: str) -> None:
    request = copy.deepcopy(event(name))
    request["body"] = "not base64!!"
    request["isBase64Encoded"] = True
    response = handler(request, None)
    assert response["statusCode"] == 400
    problem = json.loads(response["body"])
    assert "body" in problem["detail"] and "base64" in problem["detail"]
    if name == "http_v2":
        assert "cookies" not in response and "multiValueHeaders" not in response
    if name.startswith("alb"):
        assert response["statusDescription"] == "400 Bad Request"
        assert response["multiValueHeaders"]["content-type"] == ["application/problem+json"]


def test_malformed_field_is_a_400_not_a_traceback(handler: Any) -> None:
    request = event("http_v2")
    request["requestContext"]["http"] = None
    response = handler(request, None)
    assert response["statusCode"] == 400
    assert "malformed http event" in json.loads(response["body"])["detail"]


@pytest.mark.parametrize("name", ["http_v2", "alb_multi_value"])
def test_text_beyond_latin_1_reaches_the_app_instead_of_failing_the_invocation(
    handler: Any, name: str
) -> None:
    """A header, path or query the source decoded from a client's UTF-8 used to raise
    UnicodeEncodeError in the handler (a 502 from API Gateway): now the app gets it."""
    request = copy.deepcopy(event(name))
    if name == "http_v2":
        request["headers"]["header2"] = "zoë €"
        request["rawQueryString"] = "parameter1=€"
        request["cookies"] = ["cookie1=€"]
    else:
        request["multiValueHeaders"]["header2"] = ["zoë €"]
        request["multiValueQueryStringParameters"] = {"parameter1": ["€"]}
    response = handler(request, None)
    assert response["statusCode"] == 200, response
    got = seen(response)
    assert got["header2"] in (["zoë €".encode().decode("latin-1")], ["zoë €"])
    assert ["parameter1", "€"] in got["query"]
    if name == "http_v2":
        assert got["cookies"]["cookie1"] == "€".encode().decode("latin-1")

    request["rawPath" if name == "http_v2" else "path"] = "/my/päth€"
    assert handler(request, None)["statusCode"] == 404  # routed, not a crash


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"httpMethod": None}, "httpMethod: expected an HTTP method"),
        ({"httpMethod": "GET /"}, "httpMethod: expected an HTTP method"),
        ({"body": {"a": 1}}, "body: expected a string, got dict"),
        ({"body": "\ud800"}, "not Unicode"),
    ],
)
def test_malformed_field_is_a_400_naming_it(
    handler: Any, change: dict[str, Any], words: str
) -> None:
    request = {**event("rest_v1"), **change}
    response = handler(request, None)
    assert response["statusCode"] == 400
    assert words in json.loads(response["body"])["detail"]


def test_v2_event_without_a_method_names_the_field(handler: Any) -> None:
    request = copy.deepcopy(event("http_v2"))
    del request["requestContext"]["http"]["method"]
    detail = json.loads(handler(request, None)["body"])["detail"]
    assert detail.startswith("requestContext.http.method: expected an HTTP method")
    del request["requestContext"]["http"]
    detail = json.loads(handler(request, None)["body"])["detail"]
    assert detail == "malformed http event: the field 'http' is missing"
