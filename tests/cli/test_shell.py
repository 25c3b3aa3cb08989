"""`bastion shell` on a pseudo-terminal: the app started, `await` on a query, a model
imported (issue 17, must-show 2)."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.cli._pty import Terminal

MODELS = """from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db import IntPK, Model


class Book(IntPK, Model):
    __tablename__ = "books"
    title: Mapped[str] = mapped_column(String(100))
"""
MAIN = """from contextlib import asynccontextmanager

from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin

from library.models import Book, Model

database = SQLAlchemyPlugin("sqlite+aiosqlite:///./library.db")


@asynccontextmanager
async def tables(app):
    async with database.engine.begin() as connection:
        await connection.run_sync(Model.metadata.create_all)
    print("lifespan entered", flush=True)
    yield


app = App(settings=Settings(profile="test"), plugins=[database])
app.lifespan_contexts.append(tables)
"""


@pytest.fixture
def library(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "library"\n\n[tool.bastion]\npackage = "library"\n'
        'app = "library.main:app"\n'
    )
    (tmp_path / "library").mkdir()
    (tmp_path / "library/__init__.py").write_text("")
    (tmp_path / "library/models.py").write_text(MODELS)
    (tmp_path / "library/main.py").write_text(MAIN)
    return tmp_path


def shell(root: Path, *args: str) -> Terminal:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env["PYTHONPATH"] = str(root)
    env["TERM"] = "dumb"
    return Terminal([sys.executable, "-m", "bastion.cli", "shell", *args], root, env)


def test_shell_awaits_a_query_with_the_app_started_and_the_models_imported(
    library: Path,
) -> None:
    terminal = shell(library, "--plain")
    try:
        assert "lifespan entered" in terminal.expect("In the namespace: ")
        names = terminal.expect("\n")
        assert names.startswith("app, settings, select, func, db, Book")
        terminal.expect(">>> ")
        terminal.send("from library.models import Book as Imported")
        terminal.expect(">>> ")
        terminal.send("db.add(Imported(title='Dune')); await db.commit()")
        terminal.expect(">>> ")
        terminal.send("print('titles:', (await db.scalars(select(Book.title))).all())")
        assert "titles: ['Dune']" in terminal.expect(">>> ")
        terminal.send("await db.scalar(select(func.count()).select_from(Book))")
        assert "1\n" in terminal.expect(">>> ")
        terminal.send("1 / 0")  # a mistake is a traceback, and the shell goes on
        assert "ZeroDivisionError" in terminal.expect(">>> ")
        terminal.send("import asyncio; await asyncio.sleep(3); print('woke')")
        time.sleep(1)
        os.kill(terminal.process.pid, signal.SIGINT)  # Ctrl-C stops the awaited statement...
        assert "KeyboardInterrupt" in terminal.expect(">>> ")
        time.sleep(3)  # ...on the app's loop too: it never wakes
        terminal.send("print('still', await db.scalar(select(func.count()).select_from(Book)))")
        assert "woke" not in terminal.expect("still 1")
        terminal.expect(">>> ")
        os.write(terminal.master, b"\x04")  # Ctrl-D
    finally:
        code = terminal.close()
    assert code == 0


def test_shell_names_the_app_when_it_cannot_find_one(tmp_path: Path) -> None:
    terminal = shell(tmp_path)
    try:
        said = terminal.expect("bastion new", 60)
        assert "Name the app: bastion shell MODULE:APP (or set BASTION_APP" in said
    finally:
        assert terminal.close() == 2
