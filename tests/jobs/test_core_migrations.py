"""The jobs tables' migration branch goes with the app's migrations whenever the app has
SQLAlchemyPlugin and JobsPlugin, whatever the backend: switching backend is configuration."""

import sys

import pytest
from click.testing import CliRunner

from bastion.cli import main

APP = """
from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin
from bastion.jobs import Jobs, JobsPlugin

jobs = Jobs()

@jobs.job
async def ping() -> None: ...

database = SQLAlchemyPlugin("{url}")
app = App(settings=Settings(profile="test"), plugins=[database, JobsPlugin(jobs)])
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["--app", "switching:app", "db", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.mark.parametrize("backend", ["memory", "redis://127.0.0.1:1/0"])
def test_db_upgrade_still_works_after_switching_from_the_database_backend(
    backend: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("switching", None)
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    (tmp_path / "switching.py").write_text(APP.format(url=url))
    monkeypatch.setenv("BASTION_JOBS_BACKEND", "database")
    run("init")
    run("upgrade")
    assert "bastion_jobs_0001" in run("current")

    monkeypatch.setenv("BASTION_JOBS_BACKEND", backend)  # configuration, not code
    sys.modules.pop("switching", None)
    run("upgrade")
    assert "bastion_jobs_0001" in run("current")
    assert "jobs battery" in run("history")
