"""docs/database.md promises a path from an empty folder to a migrated database and a working
CRUD API in the commands written there: run them, exactly as written, in an empty folder."""

import os
import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "database.md"


def test_the_tutorial_commands_work_from_an_empty_folder(tmp_path):
    blocks = re.findall(r"^```sh\n(.*?)^```", PAGE.read_text(), re.S | re.M)
    script = next(block for block in blocks if "db init" in block)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith("BASTION_")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CRUD API works" in result.stdout
    assert (tmp_path / "shop.db").is_file()
    assert list((tmp_path / "migrations" / "versions").glob("*_create_products.py"))
