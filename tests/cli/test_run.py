"""``bastion run`` as a developer runs it: a real process on 127.0.0.1, with and without the
reloader, loading the app the way every other command does."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests._processes import accepts, free_port, running

PACKAGE_APP = """
from bastion import App, Settings
{plugins_import}
from .models import GREETING

app = App(settings=Settings(profile="test"){plugins})

@app.get("/hello")
async def hello() -> str:
    return GREETING

def create_app():
    return app
"""


def project(folder: Path, observability: bool = False) -> None:
    (folder / "pkg").mkdir()
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "models.py").write_text("GREETING = 'hi'\n")
    source = PACKAGE_APP.format(
        plugins_import="from bastion.observability import ObservabilityPlugin"
        if observability
        else "",
        plugins=", plugins=[ObservabilityPlugin(token='t' * 20)]" if observability else "",
    )
    (folder / "pkg" / "app.py").write_text(source)


@contextmanager
def bastion_run(folder: Path, target: str, port: int, *options: str, log: Path) -> Iterator[None]:
    """``bastion run TARGET`` from ``folder`` (not on PYTHONPATH: the CLI finds the app),
    answering on ``port`` until the block ends; its output goes to ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "bastion.cli", "run", target, "--port", str(port), *options]
    with (
        open(log, "wb") as out,
        running(
            command,
            ready=lambda: accepts(port),
            what=f"bastion run {target}",
            timeout=30,
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ),
    ):
        yield


@pytest.mark.parametrize(
    "target, reload",
    [
        ("pkg.app:create_app()", "--reload"),
        ("pkg.app:create_app()", "--no-reload"),
        ("pkg/app.py:app", "--reload"),
    ],
)
def test_run_serves_every_target_form_the_other_commands_accept(tmp_path: Path, target, reload):
    project(tmp_path)
    port = free_port()
    with bastion_run(tmp_path, target, port, reload, log=tmp_path / "run.log"):
        response = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=10)
    assert response.status_code == 200, (tmp_path / "run.log").read_text()
    assert response.text == "hi"


@pytest.mark.parametrize("reload", ["--reload", "--no-reload"])
def test_run_logs_each_request_once(tmp_path: Path, reload):
    project(tmp_path, observability=True)
    port = free_port()
    log = tmp_path / "run.log"
    with bastion_run(tmp_path, "pkg.app:app", port, reload, log=log):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(3):
                assert client.get("/hello?marker=once").status_code == 200
    lines = [line for line in log.read_text().splitlines() if "/hello" in line]
    assert len(lines) == 3, log.read_text()
