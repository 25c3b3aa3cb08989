import sys

import pytest
from click.testing import CliRunner

from bastion.cli import main

APP = '''
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin

class Base(DeclarativeBase):  # its own metadata: the test rewrites this module
    pass

class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
{extra}

async def seed(session):
    session.add(Note(text="welcome"))

app = App(settings=Settings(profile="test"), plugins=[SQLAlchemyPlugin("{url}", metadata=Base.metadata, seed=seed)])
'''
EXTRA = """    tag: Mapped[str | None] = mapped_column(String(20))"""


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    return request.getfixturevalue("fresh_postgres_url")


def write_app(path, url, extra=""):
    for name in [m for m in sys.modules if m == "notesapp"]:
        del sys.modules[name]
    (path / "notesapp.py").write_text(APP.format(url=url, extra=extra))


def run(*args):
    result = CliRunner().invoke(main, ["--app", "notesapp:app", "db", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_autogenerate_upgrade_downgrade_history_seed(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    write_app(tmp_path, url)
    run("init")
    assert (tmp_path / "migrations" / "env.py").is_file()
    run("revision", "--autogenerate", "-m", "create notes")
    run("upgrade")
    first = run("current").strip()
    assert first and first != "base (no migration applied)"
    run("seed")

    write_app(tmp_path, url, EXTRA)  # a new column: ALTER TABLE (batch mode on SQLite)
    run("revision", "--autogenerate", "-m", "pin notes")
    run("upgrade")
    history = run("history")
    assert "pin notes" in history and "create notes" in history
    run("downgrade", "-1")
    assert run("current").strip() == first
    run("downgrade", "base")
    assert run("current").strip() == "base (no migration applied)"


def test_commands_need_init_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    write_app(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(main, ["--app", "notesapp:app", "db", "upgrade"])
    assert result.exit_code == 2
    assert "run `bastion db init` first" in result.output
