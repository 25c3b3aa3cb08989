"""examples/iris: the app served by uvicorn in a process of its own, as deployed, with the
model in a thread and in a worker process; HTTP clients and an MCP agent (the official SDK's
client) share its batches."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from examples.iris.model import predict, train
from tests._processes import accepts, free_port, running

ROOT = Path(__file__).resolve().parents[2]
FLOWERS = [
    [5.1, 3.5, 1.4, 0.2],
    [7.0, 3.2, 4.7, 1.4],
    [6.3, 3.3, 6.0, 2.5],
    [5.9, 3.0, 5.1, 1.8],
]
NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@pytest.mark.parametrize("executor", ["thread", "process"])
async def test_the_iris_app_answers_concurrent_clients(executor: str, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    env = {**os.environ, "IRIS_EXECUTOR": executor, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "uvicorn", "examples.iris.app:app", "--port", str(port)]
    with running(
        command,
        ready=lambda: accepts(port),
        what="the iris app",
        timeout=120,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    ) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            rows = FLOWERS * 16
            answers = await asyncio.gather(
                *(client.post("/predict", json=dict(zip(NAMES, row, strict=True))) for row in rows)
            )
            bad = await client.post("/predict", json={"sepal_length": "tall"})
            huge = await client.post("/predict", json=dict.fromkeys(NAMES, 1e308))
            tools, called, refused = await ask_over_mcp(f"http://127.0.0.1:{port}/mcp")
        server.terminate()
        assert server.wait(30) in (0, -15)  # uvicorn re-raises SIGTERM after a clean stop
    assert [a.status_code for a in answers] == [200] * len(rows)
    assert [a.json()["species"] for a in answers] == predict(train(), rows)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert huge.status_code == 422 and "body.sepal_length" in huge.json()["detail"]
    assert "predict" in tools
    assert called.structured_content == {"species": "virginica"} and not called.is_error
    assert refused.is_error and '"status":422' in refused.content[0].text.replace(" ", "")
    output = (tmp_path / "server.log").read_text()
    assert "Application shutdown complete" in output and "Traceback" not in output


async def ask_over_mcp(url: str) -> tuple[list[str], Any, Any]:
    """The tools an agent sees, its call of ``predict``, and a call with bad arguments."""
    async with (
        streamable_http_client(url) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        flower = dict(zip(NAMES, FLOWERS[2], strict=True))
        called = await session.call_tool("predict", {"flower": flower})
        refused = await session.call_tool("predict", {"flower": {"sepal_length": -1}})
    return tools, called, refused
