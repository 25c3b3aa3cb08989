"""MCP set-up mistakes said at start-up, and calls bounded in time and size (in-process)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bastion import App, Settings
from bastion.ai.mcp import MCP
from bastion.exceptions import ConfigurationError
from bastion.testing import TestClient

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def rpc(client: TestClient, method: str, params: dict[str, Any] | None = None) -> Any:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    response = client.post("/mcp", content=json.dumps(message), headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_mark_on_a_function_no_route_serves_fails_at_start_up() -> None:
    mcp = MCP()
    app = App(settings=Settings(profile="test"), plugins=[mcp])

    @mcp.tool()
    async def forgotten() -> str:
        return "never served"

    with pytest.raises(ConfigurationError, match="forgotten, which no route serves"):
        await app.startup()


async def test_a_resource_must_be_read_with_get() -> None:
    mcp = MCP()
    app = App(settings=Settings(profile="test"), plugins=[mcp])

    @app.post("/reports")
    @mcp.resource()
    async def reports() -> list[str]:
        return []

    with pytest.raises(ConfigurationError, match="a resource is read with GET"):
        await app.startup()


async def test_two_tools_of_one_name_fail_at_start_up() -> None:
    mcp = MCP()
    app = App(settings=Settings(profile="test"), plugins=[mcp])

    @app.get("/a")
    @mcp.tool(name="same")
    async def a() -> str:
        return "a"

    @app.get("/b")
    @mcp.tool(name="same")
    async def b() -> str:
        return "b"

    with pytest.raises(ConfigurationError, match="Two routes are the MCP tool 'same'"):
        await app.startup()


def test_a_bad_tool_name_is_refused_when_declared() -> None:
    with pytest.raises(ConfigurationError, match="1-128 letters"):
        MCP().tool(name="drop tables; --")


def test_a_slow_tool_times_out_and_a_huge_answer_is_cut() -> None:
    mcp = MCP(timeout=0.2, max_result_bytes=1000)
    app = App(settings=Settings(profile="test"), plugins=[mcp])

    @app.get("/slow")
    @mcp.tool()
    async def slow() -> str:
        await asyncio.sleep(30)
        return "late"

    @app.get("/huge")
    @mcp.tool()
    async def huge() -> str:
        return "x" * 5000

    with TestClient(app) as client:
        late = rpc(client, "tools/call", {"name": "slow", "arguments": {}})["result"]
        assert late["isError"] is True
        assert json.loads(late["content"][0]["text"])["status"] == 504
        big = rpc(client, "tools/call", {"name": "huge", "arguments": {}})["result"]
        assert big["isError"] is True
        assert "more than 1000 bytes" in big["content"][0]["text"]


def test_arguments_that_are_not_an_object_are_a_jsonrpc_error() -> None:
    mcp = MCP()
    app = App(settings=Settings(profile="test"), plugins=[mcp])

    @app.get("/items/{item_id:int}")
    @mcp.tool()
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    with TestClient(app) as client:
        answer = rpc(client, "tools/call", {"name": "item", "arguments": [1, 2]})
        assert answer["error"]["code"] == -32602
        listed = rpc(client, "tools/list")["result"]["tools"]
        assert listed[0]["inputSchema"]["properties"] == {"item_id": {"type": "integer"}}
        ok = rpc(client, "tools/call", {"name": "item", "arguments": {"item_id": 5}})["result"]
        assert ok["structuredContent"] == {"id": 5}


def test_a_plain_function_is_a_tool_with_the_routes_guards() -> None:
    from bastion.auth import AuthPlugin, JWTAuth, requires

    tokens = JWTAuth(secret="a-test-secret-for-the-mcp-tests-of-32-bytes")
    mcp = MCP()
    app = App(settings=Settings(profile="test"), plugins=[AuthPlugin(tokens), mcp])

    @mcp.function()
    async def add(a: int, b: int) -> dict[str, int]:
        """Add two whole numbers."""
        return {"sum": a + b}

    @mcp.function(tool="shutdown", dependencies=[requires("admin")])
    async def stop() -> str:
        return "stopping"

    with TestClient(app) as client:
        tools = {t["name"]: t for t in rpc(client, "tools/list")["result"]["tools"]}
        assert tools["add"]["description"] == "Add two whole numbers."
        assert tools["add"]["inputSchema"]["required"] == ["a", "b"]
        done = rpc(client, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
        assert done["result"]["structuredContent"] == {"sum": 5}
        bad = rpc(client, "tools/call", {"name": "add", "arguments": {"a": "two", "b": 3}})
        assert bad["result"]["isError"] is True
        assert json.loads(bad["result"]["content"][0]["text"])["errors"][0]["field"] == "query.a"
        refused = rpc(client, "tools/call", {"name": "shutdown", "arguments": {}})["result"]
        assert refused["isError"] is True
        assert json.loads(refused["content"][0]["text"])["status"] == 401
        # the same function over HTTP, with the same guard
        assert client.post("/mcp/functions/add?a=1&b=1").json() == {"sum": 2}
        assert client.post("/mcp/functions/shutdown").status_code == 401
