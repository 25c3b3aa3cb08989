"""A new project's pytest settings: pytest-asyncio among its dev tools, with the fixture
loop scope set, so its first `make test` prints no PytestDeprecationWarning."""

import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from bastion.cli import main


def test_new_project_sets_the_asyncio_fixture_loop_scope(tmp_path: Path) -> None:
    root = tmp_path / "loopy"
    args = ["new", "loopy", "--no-input", "--no-setup", "--directory", str(root)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "pytest-asyncio" in project["project"]["optional-dependencies"]["dev"]
    options = project["tool"]["pytest"]["ini_options"]
    assert options["asyncio_default_fixture_loop_scope"] == "function"
    # pytest reads it: no deprecation warning about the unset option.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-W", "error::DeprecationWarning"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert "asyncio_default_fixture_loop_scope" not in output, output
    assert done.returncode == 0, output
