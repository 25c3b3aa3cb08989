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

APP = """
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
"""


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


@pytest.mark.parametrize(
    "target, message",
    [
        ("nosuchmodule:app", "Cannot import 'nosuchmodule'"),
        ("shop:nope", "has no attribute 'nope'"),
        ("shop:not_an_app", "not a bastion.App"),
        ("shop:create_app", "write shop:create_app() to call it"),
        ("missing.py:app", "No file 'missing.py'"),
    ],
)
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


@pytest.mark.parametrize(
    "command", [["serve", "--workers", "2"], ["run", "--no-reload"], ["run", "--reload"]]
)
def test_server_starts_serves_and_stops_on_sigterm(project, command):
    port = _free_port()
    env = {**os.environ, "BASTION_SECRET_KEY": "s" * 40, "PYTHONPATH": str(project)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", *command, "shop:app", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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


WITH_COMMAND = """
import click
from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin

app = App(settings=Settings(profile="test"), plugins=[SQLAlchemyPlugin("sqlite+aiosqlite://")])

@click.command("hello")
def hello():
    '''Say hello.'''
    click.echo("hello from plugin")

app.cli_commands.append(hello)
"""


def test_version_is_the_installed_package_version():
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"bastion {version('bastion')}\n"


def test_help_with_an_app_lists_its_plugin_commands(project):
    (project / "withcmd.py").write_text(WITH_COMMAND)
    result = CliRunner().invoke(main, ["--app", "withcmd:app", "--help"])
    assert result.exit_code == 0, result.output
    plugin_section = result.output.split("Commands from the plugins of withcmd:app:")[1]
    assert "db " in plugin_section and "Database migrations" in plugin_section
    assert "hello" in plugin_section and "Say hello." in plugin_section


def test_help_with_bastion_app_set_lists_its_plugin_commands(project):
    (project / "withcmd.py").write_text(WITH_COMMAND)
    result = CliRunner(env={"BASTION_APP": "withcmd:app"}).invoke(main, ["--help"])
    assert "Commands from the plugins of withcmd:app:" in result.output
    assert result.output.count("hello  Say hello.") == 1


def test_help_without_an_app_says_how_to_see_plugin_commands():
    result = CliRunner(env={"BASTION_APP": None}).invoke(main, ["--help"])
    assert "name the app to see them: bastion --app MODULE:APP --help" in " ".join(
        result.output.split()
    )


def test_a_plugin_command_without_an_app_says_how_to_name_the_app():
    result = CliRunner(env={"BASTION_APP": None}).invoke(main, ["db", "--help"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "No such command 'db'." in message
    assert "come from the app's plugins" in message
    assert "bastion --app MODULE:APP db ..." in message and "BASTION_APP=MODULE:APP" in message


def test_a_plugin_command_the_app_lacks_names_the_plugin_that_adds_it(project):
    result = CliRunner().invoke(main, ["--app", "shop:app", "db", "upgrade"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "The plugins of shop:app add no commands." in message
    assert "`db` comes from SQLAlchemyPlugin" in message


def test_plugin_commands_run_with_bastion_app_set(project):
    (project / "withcmd.py").write_text(WITH_COMMAND)
    result = CliRunner(env={"BASTION_APP": "withcmd:app"}).invoke(main, ["hello"])
    assert result.output.strip() == "hello from plugin"


def test_a_factory_app_is_made_once_for_its_plugin_commands(project):
    (project / "counted.py").write_text(
        WITH_COMMAND.replace(
            "app = App(",
            "made = []\ndef create_app():\n    made.append(1)\n    return app\napp = App(",
        )
    )
    result = CliRunner().invoke(main, ["--app", "counted:create_app()", "hello"])
    assert result.output.strip() == "hello from plugin"
    assert sys.modules["counted"].made == [1]
    sys.modules.pop("counted")


LONG_PATH = "/" + "/".join(f"segment{i}" for i in range(12)) + "/{item_id}"


@pytest.mark.parametrize("columns", ["80", "40"])
def test_routes_table_never_cuts_a_path_when_piped(project, columns):
    (project / "longpaths.py").write_text(
        "from bastion import App, Settings\n"
        "app = App(settings=Settings(profile='test'))\n"
        f"@app.get('{LONG_PATH}')\n"
        "async def a_handler_with_a_rather_long_name_too(item_id: int) -> dict:\n"
        "    return {}\n"
    )
    result = CliRunner(env={"COLUMNS": columns}).invoke(main, ["routes", "longpaths:app"])
    assert result.exit_code == 0, result.output
    assert LONG_PATH in result.output  # whole, on one line
    assert "longpaths.a_handler_with_a_rather_long_name_too" in result.output
    assert "…" not in result.output
    sys.modules.pop("longpaths")
