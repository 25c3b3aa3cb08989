"""docs/testing.md's pytest project runs as a user's project would: its files, written into
an empty folder, under pytest with the plugin Bastion installs and pytest-asyncio in its
default strict mode (and in auto mode), in a subprocess.

The project logs in with the auth battery over the default ``http://testserver`` and posts
a CSRF-protected form (the session and CSRF cookies must come back over plain HTTP), runs a
module over https through the ``bastion_base_url`` fixture, and has a marked async test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n# not run: (\S+\.py)\n(.*?)^```", re.S | re.M)


def project_files() -> dict[str, str]:
    """The page's blocks that name a project file on their first line."""
    files = dict(BLOCK.findall((ROOT / "docs" / "testing.md").read_text()))
    assert set(files) >= {"myproject/app.py", "conftest.py", "tests/test_notes.py"}, files
    return files


def write_project(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (folder / "pytest.ini").write_text("[pytest]\n")  # no asyncio_mode: strict by default


def run_pytest(folder: Path, mode: str) -> str:
    """pytest on the project with only Bastion's plugin and pytest-asyncio (by their entry
    point names), so other installed plugins cannot change the outcome."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BASTION_", "PYTEST_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "asyncio", "-p", "bastion", f"--asyncio-mode={mode}"]
    result = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=300
    )
    return f"exit code {result.returncode}\n{result.stdout}{result.stderr}"


def count_tests(files: dict[str, str]) -> int:
    return sum(len(re.findall(r"^(?:async )?def test_", text, re.M)) for text in files.values())


#: Not in the docs: an async test without the mark strict mode needs.
UNMARKED = """
async def test_unmarked(async_client):
    assert (await async_client.get("/notes/new")).status_code == 401
"""


def test_the_documented_project_passes_in_strict_mode(tmp_path: Path) -> None:
    files = project_files()
    documented = count_tests(files)
    files["tests/test_unmarked.py"] = UNMARKED
    write_project(tmp_path, files)
    output = run_pytest(tmp_path, "strict")
    # Every documented test passes; the unmarked one fails with a sentence giving the fix.
    assert re.search(rf"\b{documented} passed, (1 warning, )?1 error in", output), output
    assert "test_unmarked is an async test using `async_client`" in output, output
    assert "mark it @pytest.mark.asyncio" in output and 'asyncio_mode = "auto"' in output
    assert "not natively supported" not in output, output


def test_the_documented_project_passes_in_auto_mode(tmp_path: Path) -> None:
    files = project_files()
    files["tests/test_unmarked.py"] = UNMARKED
    write_project(tmp_path, files)
    output = run_pytest(tmp_path, "auto")
    assert output.startswith("exit code 0") and f"{count_tests(files)} passed" in output, output
