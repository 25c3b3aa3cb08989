"""Where API Gateway mounts the app: an HTTP API's named stage leads ``rawPath`` and goes to
``root_path``; a REST API's ``requestContext.path`` has the stage its ``path`` lacks; a custom
domain's base path mapping is the ``base_path`` option. Events are the documented shapes of
tests/serverless/events/ with the stage, paths and domain set as AWS sends them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bastion import App, ConfigurationError, Request, Settings
from bastion.serverless import lambda_handler

EVENTS = Path(__file__).parent / "events"
API_DOMAIN = "id.execute-api.us-east-1.amazonaws.com"


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def make_app() -> App[Any]:
    app: App[Any] = App(settings=Settings(profile="test"))

    @app.get("/ping/{name}", name="ping")
    async def ping(name: str, request: Request) -> dict[str, Any]:
        return {
            "name": name,
            "path": request.path,
            "root": request.scope["root_path"],
            "link": request.url_for("ping", name="again"),
        }

    return app


@pytest.fixture
def handler() -> Any:
    handler = lambda_handler(make_app())
    yield handler
    handler.close()


def http_event(raw_path: str, stage: str, domain: str = API_DOMAIN) -> dict[str, Any]:
    made = copy.deepcopy(event("http_v2"))
    made["rawPath"] = raw_path
    made["rawQueryString"] = ""
    made["body"] = None
    made["isBase64Encoded"] = False
    made["headers"]["host"] = domain
    made["requestContext"].update(stage=stage, domainName=domain)
    made["requestContext"]["http"].update(method="GET", path=raw_path)
    return made


def rest_event(path: str, context_path: str, domain: str = API_DOMAIN) -> dict[str, Any]:
    made = copy.deepcopy(event("rest_v1"))
    made.update(path=path, httpMethod="GET", body=None, isBase64Encoded=False)
    made["headers"]["Host"] = domain
    made["multiValueHeaders"]["Host"] = [domain]
    made["queryStringParameters"] = made["multiValueQueryStringParameters"] = None
    made["requestContext"].update(path=context_path, stage="dev", domainName=domain)
    return made


def answer(handler: Any, payload: dict[str, Any]) -> dict[str, Any]:
    response = handler(payload, None)
    assert response["statusCode"] == 200, response["body"]
    loaded: dict[str, Any] = json.loads(response["body"])
    return loaded


def test_http_api_named_stage_is_the_root_path(handler: Any) -> None:
    seen = answer(handler, http_event("/dev/ping/ada", "dev"))
    assert seen == {
        "name": "ada",
        "path": "/ping/ada",
        "root": "/dev",
        "link": f"https://{API_DOMAIN}/dev/ping/again",
    }
    assert answer(handler, http_event("/dev/ping/dev", "dev"))["name"] == "dev"


def test_http_api_default_stage_is_not_stripped(handler: Any) -> None:
    seen = answer(handler, http_event("/ping/ada", "$default"))
    assert (seen["path"], seen["root"]) == ("/ping/ada", "")


def test_http_api_stage_on_a_custom_domain_is_not_in_the_links(handler: Any) -> None:
    seen = answer(handler, http_event("/dev/ping/ada", "dev", domain="api.example.com"))
    assert (seen["path"], seen["link"]) == ("/ping/ada", "https://api.example.com/ping/again")


def test_rest_api_stage_comes_from_the_request_context_path(handler: Any) -> None:
    seen = answer(handler, rest_event("/ping/ada", "/dev/ping/ada"))
    assert seen == {
        "name": "ada",
        "path": "/ping/ada",
        "root": "/dev",
        "link": f"https://{API_DOMAIN}/dev/ping/again",
    }


def test_custom_domain_base_path_mapping_is_an_option() -> None:
    handler = lambda_handler(make_app(), base_path="/v1")
    try:
        # REST: the mapping leads both paths.
        rest = rest_event("/v1/ping/ada", "/v1/ping/ada", domain="api.example.com")
        seen = answer(handler, rest)
        assert (seen["path"], seen["link"]) == ("/ping/ada", "https://api.example.com/v1/ping/again")
        # HTTP API: rawPath has the stage, never the mapping.
        http = http_event("/dev/ping/ada", "dev", domain="api.example.com")
        seen = answer(handler, http)
        assert (seen["path"], seen["link"]) == ("/ping/ada", "https://api.example.com/v1/ping/again")
    finally:
        handler.close()


@pytest.mark.parametrize("bad", ["v1", "/v1/", "/v 1", "/v1?x"])
def test_a_malformed_base_path_fails_at_start_up(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="base_path"):
        lambda_handler(make_app(), base_path=bad)
