"""``bastion db init`` ends with the next command to type: pasted into a shell, it runs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

APP = """
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin

class Base(DeclarativeBase):
    pass

class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)

def create_app():
    plugin = SQLAlchemyPlugin("sqlite+aiosqlite:///./notes.db", metadata=Base.metadata)
    return App(settings=Settings(profile="test"), plugins=[plugin])
"""


def shell(command: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, shell=True, cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "init",
    [
        "bastion --app 'notes:create_app()' db init",
        "BASTION_APP=notes:create_app\\(\\) bastion db init",
        "bastion --app notes.py:create_app\\(\\) db --directory 'db changes' init",
    ],
)
def test_db_init_prints_a_next_step_that_runs_as_printed(tmp_path: Path, init: str):
    (tmp_path / "notes.py").write_text(APP)
    bin_folder = str(Path(sys.executable).parent)  # where `bastion` is installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env["PATH"] = bin_folder + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONPATH", None)
    env["COLUMNS"] = "60"  # narrower than the line: it must not be broken

    done = shell(init, tmp_path, env)
    assert done.returncode == 0, done.stderr
    printed = re.search(r"next: (.*)$", done.stderr, re.M)
    assert printed, done.stderr

    step = shell(printed[1], tmp_path, env)
    assert step.returncode == 0, f"{printed[1]}\n{step.stderr}"
    assert list(tmp_path.glob("*/versions/*_first.py"))
