import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bastion.cli import main

APP = '''
from bastion import App, Settings, Router
app = App(settings=Settings(profile="test"))
api = Router("/api", tags=["api"])

@api.get("/items/{item_id}")
async def get_item(item_id: int, q: str | None = None) -> dict:
    return {"id": item_id}

app.include(api)

@app.get("/ping")
async def ping() -> str:
    return "pong"

def create_app():
    return app

not_an_app = 42
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "shop.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("shop", "withcmd"):  # written afresh by each test: never reuse a cached copy
        sys.modules.pop(name, None)


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "serve", "routes", "openapi"):
        assert command in result.output


@pytest.mark.parametrize("command", ["run", "serve", "routes", "openapi"])
def test_each_command_has_help_with_an_example(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "MODULE:APP" in result.output


def test_routes_table(project):
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["routes", "shop:app"])
    assert result.exit_code == 0, result.output
    assert "/api/items/{item_id}" in result.output
    assert "get_item" in result.output


def test_routes_json(project):
    result = CliRunner().invoke(main, ["routes", "shop:app", "--json"])
    rows = json.loads(result.output)
    item = next(r for r in rows if r["name"] == "get_item")
    assert item["methods"] == ["GET"]
    assert item["params"] == ["path:item_id", "query:q"]
    assert item["tags"] == ["api"]


def test_openapi_prints_the_document(project):
    result = CliRunner().invoke(main, ["openapi", "shop:app"])
    document = json.loads(result.output)
    assert document["openapi"] == "3.1.0"
    assert "/ping" in document["paths"]


def test_openapi_to_file(project):
    result = CliRunner().invoke(main, ["openapi", "shop:app", "-o", "openapi.json"])
    assert result.exit_code == 0
    assert json.loads((project / "openapi.json").read_text())["paths"]


def test_loading_by_file_path_and_factory(project):
    assert CliRunner().invoke(main, ["routes", "shop.py:app"]).exit_code == 0
    assert CliRunner().invoke(main, ["routes", "shop:create_app()"]).exit_code == 0


@pytest.mark.parametrize("target, message", [
    ("nosuchmodule:app", "Cannot import 'nosuchmodule'"),
    ("shop:nope", "has no attribute 'nope'"),
    ("shop:not_an_app", "not a bastion.App"),
    ("shop:create_app", "write shop:create_app() to call it"),
    ("missing.py:app", "No file 'missing.py'"),
])
def test_loading_errors_say_what_to_change(project, target, message):
    result = CliRunner().invoke(main, ["routes", target])
    assert result.exit_code == 2
    assert message in result.output


def test_plugin_commands_are_offered(project):
    (project / "withcmd.py").write_text(
        "import click\nfrom bastion import App, Settings\n"
        "app = App(settings=Settings(profile='test'))\n"
        "@click.command('hello')\ndef hello():\n    click.echo('hello from plugin')\n"
        "app.cli_commands.append(hello)\n"
    )
    result = CliRunner().invoke(main, ["--app", "withcmd:app", "hello"])
    assert result.output.strip() == "hello from plugin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 20) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.stdout.read()}")
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"no answer from {url} within {seconds} s")


@pytest.mark.parametrize("command", [["serve", "--workers", "2"], ["run", "--no-reload"], ["run", "--reload"]])
def test_server_starts_serves_and_stops_on_sigterm(project, command):
    port = _free_port()
    env = {**os.environ, "BASTION_SECRET_KEY": "s" * 40, "PYTHONPATH": str(project)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", *command, "shop:app", "--port", str(port)],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        response = _wait_until_serving(f"http://127.0.0.1:{port}/ping", process)
        assert response.text == "pong"
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
