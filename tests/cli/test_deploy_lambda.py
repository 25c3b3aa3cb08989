"""`bastion deploy lambda` writes a handler module that imports and serves, and a SAM template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bastion.cli import main

APP = """
from bastion import App, Settings
app = App(settings=Settings(profile="test", app_name="shop_api"))

@app.get("/hello")
async def hello() -> dict:
    return {"hello": "lambda"}

def create_app() -> App:
    return app
"""
EVENT = Path(__file__).parents[1] / "serverless" / "events" / "http_v2.json"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "shopapp.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("shopapp", None)


def invoke_handler(directory: Path) -> dict:
    """Import the written handler module in a fresh process and send it an HTTP API event."""
    code = f"""
import json, lambda_function
event = json.loads(open({str(EVENT)!r}).read())
event.update(rawPath="/hello", rawQueryString="", body="")
event["requestContext"]["http"]["method"] = "GET"
print(json.dumps(lambda_function.handler(event, None)))
"""
    env = {**os.environ, "PYTHONPATH": str(directory)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_lambda_writes_a_handler_that_serves_and_a_sam_template(project: Path) -> None:
    out = project / "deploy"
    result = CliRunner().invoke(
        main,
        [
            "deploy",
            "lambda",
            "shopapp:app",
            "-d",
            str(out),
            "--memory",
            "512",
            "--env",
            "BASTION_DATABASE_URL=postgresql://db/shop",
        ],
    )
    assert result.exit_code == 0, result.output
    (out / "shopapp.py").write_text(APP)  # the app's code travels with the handler
    template = yaml.safe_load((out / "template.yaml").read_text())
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    function = template["Resources"]["AppFunction"]
    assert function["Type"] == "AWS::Serverless::Function"
    props = function["Properties"]
    assert props["Handler"] == "lambda_function.handler"
    assert props["Runtime"] == "python3.12" and props["MemorySize"] == 512
    assert props["Events"]["Http"] == {"Type": "HttpApi"}
    variables = props["Environment"]["Variables"]
    assert variables["BASTION_PROFILE"] == "prod"
    assert variables["BASTION_APP_NAME"] == "shop_api"
    assert variables["BASTION_DATABASE_URL"] == "postgresql://db/shop"
    assert variables["BASTION_SECRET_KEY"] == {"Ref": "SecretKey"}
    assert template["Parameters"]["SecretKey"]["NoEcho"] is True
    assert (out / "requirements.txt").read_text() == "bastion\n"
    response = invoke_handler(out)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"hello": "lambda"}


def test_lambda_handler_module_calls_a_factory(project: Path) -> None:
    result = CliRunner().invoke(main, ["deploy", "lambda", "shopapp:create_app()"])
    assert result.exit_code == 0, result.output
    assert "app = create_app()" in (project / "lambda_function.py").read_text()
    assert invoke_handler(project)["statusCode"] == 200


def test_lambda_refuses_to_overwrite_without_force(project: Path) -> None:
    (project / "template.yaml").write_text("mine\n")
    result = CliRunner().invoke(main, ["deploy", "lambda", "shopapp:app"])
    assert result.exit_code != 0
    assert "template.yaml already exists: pass --force" in result.output
    assert (project / "template.yaml").read_text() == "mine\n"
    assert CliRunner().invoke(main, ["deploy", "lambda", "shopapp:app", "--force"]).exit_code == 0


def test_lambda_env_needs_name_equals_value(project: Path) -> None:
    result = CliRunner().invoke(main, ["deploy", "lambda", "shopapp:app", "--env", "NOVALUE"])
    assert result.exit_code == 2
    assert "write NAME=VALUE" in result.output
