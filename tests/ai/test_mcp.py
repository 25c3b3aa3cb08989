"""The official MCP SDK's client against the app served by uvicorn: tools listed and called
with and without a valid bearer token, resources read, and hostile calls answered with MCP
errors (JSON-RPC errors or results with ``isError``), never a traceback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.ai.live_mcp_app import tokens
from tests.channels._live import uvicorn


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn("tests.ai.live_mcp_app:create_app") as base:
        yield base


def bearer(sub: str = "7", roles: tuple[str, ...] = ("buyer",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.encode({'sub': sub, 'roles': list(roles)})}"}


@asynccontextmanager
async def session(base: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    http = create_mcp_http_client(headers=headers)
    async with (
        http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content)


async def test_tools_are_listed_with_schemas_from_the_routes(server: str) -> None:
    async with session(server) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == {"get_order", "place_order", "search", "boom"}  # export is not one
    order = listed["place_order"]
    assert order.description == "Place an order (buyers only)."
    schema = order.input_schema
    assert schema["required"] == ["order"]
    assert schema["properties"]["order"] == {"$ref": "#/$defs/NewOrder"}
    new_order = schema["$defs"]["NewOrder"]
    assert new_order["properties"]["quantity"] == {"type": "integer", "minimum": 1, "maximum": 100}
    search = listed["search"].input_schema
    assert search["properties"]["q"] == {"type": "string", "description": "Words to look for"}
    assert search["properties"]["limit"] == {"type": "integer", "default": 10}
    # The answer's schema too, when it is an object; the SDK client checks results against it.
    output = listed["get_order"].output_schema
    assert output["$ref"] == "#/$defs/Order"
    assert output["$defs"]["Order"]["required"] == ["id", "sku", "quantity", "buyer"]
    assert listed["search"].output_schema is None  # a list is not structured content
    assert listed["get_order"].annotations.read_only_hint is True
    assert order.annotations.read_only_hint is False


async def test_a_public_tool_answers_without_a_token(server: str) -> None:
    async with session(server) as client:
        result = await client.call_tool("get_order", {"order_id": 1})
    assert result.is_error is False
    assert result.structured_content == {"id": 1, "sku": "TEA-1", "quantity": 2, "buyer": "7"}
    assert json.loads(text_of(result))["sku"] == "TEA-1"


async def test_a_guarded_tool_needs_a_valid_token_with_the_role(server: str) -> None:
    arguments = {"order": {"sku": "TEA-2", "quantity": 3}}
    async with session(server) as client:
        anonymous = await client.call_tool("place_order", arguments)
    assert anonymous.is_error is True
    assert json.loads(text_of(anonymous))["status"] == 401

    async with session(server, {"Authorization": "Bearer forged.token.here"}) as client:
        forged = await client.call_tool("place_order", arguments)
    assert forged.is_error is True and json.loads(text_of(forged))["status"] == 401

    async with session(server, bearer(roles=())) as client:
        no_role = await client.call_tool("place_order", arguments)
    assert no_role.is_error is True
    assert json.loads(text_of(no_role))["status"] == 403

    async with session(server, bearer(sub="42")) as client:
        placed = await client.call_tool("place_order", arguments)
    assert placed.is_error is False, text_of(placed)
    assert placed.structured_content["buyer"] == "42"  # the identity is the token's
    assert placed.structured_content["sku"] == "TEA-2"


async def test_bad_arguments_are_tool_errors_naming_the_field(server: str) -> None:
    async with session(server, bearer()) as client:
        invalid = await client.call_tool("place_order", {"order": {"sku": "x", "quantity": 0}})
        problem = json.loads(text_of(invalid))
        assert invalid.is_error is True and problem["status"] == 422
        fields = {error["field"] for error in problem["errors"]}
        assert {"body.sku", "body.quantity"} <= fields

        wrong_type = await client.call_tool("get_order", {"order_id": "seven"})
        assert wrong_type.is_error is True
        assert json.loads(text_of(wrong_type))["status"] in (404, 422)

        unknown = await client.call_tool("get_order", {"order_id": 1, "admin": True})
        assert unknown.is_error is True
        assert "Unknown argument admin" in text_of(unknown)

        traversal = await client.call_tool("get_order", {"order_id": "1/../../admin/export"})
        assert traversal.is_error is True
        assert "one path segment" in text_of(traversal)

        missing = await client.call_tool("get_order", {})
        assert missing.is_error is True and "Missing argument order_id" in text_of(missing)


async def test_an_unknown_tool_is_a_jsonrpc_error(server: str) -> None:
    async with session(server) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("drop_tables", {})
    assert raised.value.code == -32602
    assert "Unknown tool: drop_tables" in raised.value.message


async def test_oversized_input_is_refused_with_an_mcp_error(server: str) -> None:
    huge = {"order": {"sku": "A" * 2_000_000, "quantity": 1}}
    async with session(server, bearer()) as client:
        try:
            result = await client.call_tool("place_order", huge)
        except MCPError as error:  # the transport's body limit: a JSON-RPC error
            assert error.code < 0
            assert "Traceback" not in error.message
        else:  # or the route's own limit: a tool error
            assert result.is_error is True
            assert json.loads(text_of(result))["status"] in (413, 422)
        # the session still works afterwards
        assert (await client.call_tool("get_order", {"order_id": 1})).is_error is False


async def test_a_crashing_tool_says_nothing_of_its_internals(server: str) -> None:
    async with session(server) as client:
        result = await client.call_tool("boom", {})
    assert result.is_error is True
    problem = json.loads(text_of(result))
    assert problem["status"] == 500
    assert "passwd" not in text_of(result) and "Traceback" not in text_of(result)


async def test_the_routes_rate_limit_applies_to_tool_calls(server: str) -> None:
    async with session(server) as client:
        answers = [await client.call_tool("search", {"q": "tea"}) for _ in range(4)]
    assert [a.is_error for a in answers[:3]] == [False, False, False]
    assert answers[0].content and json.loads(text_of(answers[0])) == ["TEA-1", "TEA-2"]
    refused = json.loads(text_of(answers[3]))
    assert answers[3].is_error is True and refused["status"] == 429
    assert int(refused["retry_after"]) >= 1


async def test_resources_are_listed_and_read_with_the_same_guards(server: str) -> None:
    async with session(server, bearer()) as client:
        listed = (await client.list_resources()).resources
        assert [(str(r.uri), r.name) for r in listed] == [("app://catalog", "catalog")]
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["app://orders/{order_id}/receipt"]

        catalog = await client.read_resource("app://catalog")
        assert json.loads(catalog.contents[0].text) == ["TEA-1", "TEA-2", "COFFEE-1"]
        receipt = await client.read_resource("app://orders/1/receipt")
        assert receipt.contents[0].text == "Order 1: 2 x TEA-1"
        with pytest.raises(MCPError) as missing:
            await client.read_resource("app://nothing/here")
        assert missing.value.code == -32602

    async with session(server, bearer(sub="8")) as client:
        with pytest.raises(MCPError) as other_buyer:
            await client.read_resource("app://orders/1/receipt")
        assert "no order 1" in other_buyer.value.message


async def test_a_browser_origin_not_allowed_is_refused(server: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"accept": "application/json, text/event-stream", "origin": "http://evil.test"}
    response = httpx.post(f"{server}/mcp", json=body, headers=headers, timeout=10)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_garbage_posted_to_the_endpoint_is_a_jsonrpc_error(server: str) -> None:
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    for body in (b"{not json", b"[]", b'{"jsonrpc": "2.0", "id": 1, "method": 7}'):
        response = httpx.post(f"{server}/mcp", content=body, headers=headers, timeout=10)
        assert 400 <= response.status_code < 500, (body, response.status_code)
        assert "error" in response.json()
        assert "Traceback" not in response.text


@pytest.mark.parametrize("mode", ["auto", "2026-07-28"])
async def test_the_sdks_high_level_client_in_each_protocol_era(server: str, mode: str) -> None:
    from mcp.client.client import Client

    async with Client(f"{server}/mcp", mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "get_order" in names
        result = await client.call_tool("get_order", {"order_id": 1})
        assert result.structured_content["sku"] == "TEA-1"
        with pytest.raises(MCPError):
            await client.call_tool("drop_tables", {})
