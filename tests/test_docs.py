"""Every ```python block in docs/ and the README runs, so the examples cannot rot.

Blocks on one page share a namespace, in order, like a reader following along. A block
whose first line is ``# not run`` is skipped (e.g. a server that would block).
"""

import os
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md"])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = [b for b in BLOCK.findall(page.read_text()) if not b.startswith("# not run")]
    if not blocks:
        pytest.skip(f"{page.name} has no runnable python blocks")
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("BASTION_")]:
        monkeypatch.delenv(key)
    # A module in sys.modules, as code that resolves annotations by module (Strawberry) needs.
    module = types.ModuleType(f"docs_{page.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, object] = module.__dict__
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{page.name}[block {number}]", "exec")
        exec(code, namespace)
