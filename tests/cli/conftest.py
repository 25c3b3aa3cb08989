"""A project folder for the CLI to load apps from, with its modules forgotten afterwards."""

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Write]:
    """``write("pkg/app.py", source)``: a file in the current folder (a temporary one).

    Every module imported from the folder is dropped from ``sys.modules`` at the end, and
    ``sys.path`` is restored, so no test sees another's copy of a same-named module."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)

    def write(relative: str, source: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        return path

    yield write
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
