"""`bastion generate` on a small hand-made project: the plan, dry runs, no overwriting
without --force, registration, and layouts found without [tool.bastion]. (Generated code
running green inside real projects is tests/cli/test_new.py's job.)"""

from pathlib import Path

import pytest
from click.testing import CliRunner

from bastion.cli import main

MAIN = """from bastion import App
from shop import models, routes

app = App()
app.include(routes.router)
"""
MODELS = '''"""Models."""

from bastion.db import Model

__all__ = ["Model"]
'''
ROUTES = """from bastion import Router

router = Router()
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    files = {
        "pyproject.toml": '[project]\nname = "shop"\n\n[tool.bastion]\npackage = "shop"\n',
        "shop/__init__.py": "",
        "shop/main.py": MAIN,
        "shop/models/__init__.py": MODELS,
        "shop/routes/__init__.py": ROUTES,
        "migrations/env.py": "",
        "migrations/versions/aaa_first.py": 'revision = "aaa"\ndown_revision = None\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def g(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["generate", *args], terminal_width=200)
    return result.exit_code, result.output


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_dry_run_shows_the_plan_as_a_table_and_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    code, out = g("resource", "book", "title:str", "--dry-run")
    assert code == 0, out
    assert "dry run: nothing written" in out
    for row in (
        ("create", "shop/models/book.py", "model Book"),
        ("update", "shop/models/__init__.py", "imports Book"),
        ("create", "migrations/versions/", "creates table books"),
        ("create", "shop/routes/books.py", "CRUD routes /books"),
        ("update", "shop/routes/__init__.py", "registers it"),
        ("create", "tests/test_books.py", "tests of the routes"),
    ):
        assert any(all(cell in line for cell in row) for line in out.splitlines()), row
    assert snapshot(project) == before


def test_resource_registers_the_model_and_the_router_and_chains_the_migration(
    project: Path,
) -> None:
    code, out = g("resource", "category", "name:str:unique", "rank:int?")
    assert code == 0, out
    models = (project / "shop/models/__init__.py").read_text()
    assert "from shop.models.category import Category" in models
    assert '__all__ = ["Category", "Model"]' in models
    routes = (project / "shop/routes/__init__.py").read_text()
    assert "from shop.routes import categories" in routes
    assert routes.endswith("router.include(categories.router)\n")
    [migration] = (project / "migrations/versions").glob("*_create_categories.py")
    text = migration.read_text()
    assert 'down_revision: str | Sequence[str] | None = "aaa"' in text
    assert 'sa.Column("rank", sa.Integer(), nullable=True)' in text
    assert 'sa.UniqueConstraint("name", name=op.f("uq_categories_name"))' in text
    compile(text, str(migration), "exec")
    model = (project / "shop/models/category.py").read_text()
    assert "class Category(IntPK, Timestamps, Model):" in model
    assert "rank: Mapped[int | None] = mapped_column(Integer())" in model


def test_existing_files_are_not_overwritten_without_force(project: Path) -> None:
    assert g("model", "book", "title:str")[0] == 0
    (project / "shop/models/book.py").write_text("# mine\n")
    before = snapshot(project)

    code, out = g("resource", "book", "title:str")
    assert code == 1
    assert "Not overwriting shop/models/book.py" in out and "nothing was written" in out
    assert snapshot(project) == before  # not even the files that did not exist

    code, out = g("resource", "book", "title:str", "--force")
    assert code == 0, out
    assert "overwrite" in out
    assert "class Book(" in (project / "shop/models/book.py").read_text()
    # the model's migration is rewritten in place, never a second one for the same table
    assert len(list((project / "migrations/versions").glob("*_create_books.py"))) == 1
    models = (project / "shop/models/__init__.py").read_text()
    assert models.count("import Book") == 1


def test_migrations_follow_the_head(project: Path) -> None:
    assert g("migration", "backfill prices")[0] == 0
    [first] = (project / "migrations/versions").glob("*_backfill_prices.py")
    assert 'down_revision: str | Sequence[str] | None = "aaa"' in first.read_text()
    assert g("migration", "second")[0] == 0
    [second] = (project / "migrations/versions").glob("*_second.py")
    revision = first.name.split("_")[0]
    assert f'down_revision: str | Sequence[str] | None = "{revision}"' in second.read_text()


def test_a_generator_without_its_registry_says_what_to_create(project: Path) -> None:
    code, out = g("job", "send_report")
    assert code == 2
    assert "This project has no shop/jobs/__init__.py" in out
    assert "--template fullstack" in out
    assert not (project / "shop/jobs").exists()


def test_a_bad_field_names_the_types(project: Path) -> None:
    code, out = g("model", "book", "title:string")
    assert code == 2
    assert "Field 'title:string'" in out and "str, text, int" in out


def test_the_layout_is_found_without_tool_bastion_and_from_a_subfolder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    monkeypatch.chdir(project / "shop" / "models")
    code, out = g("model", "tag", "name:str")
    assert code == 0, out
    assert (project / "shop/models/tag.py").is_file()


def test_folders_can_be_moved_in_tool_bastion(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'tests = "spec"\n')
    assert g("controller", "pages", "about")[0] == 0
    assert "/pages/about" in (project / "spec/test_pages.py").read_text()
    assert "router.include(pages.router)" in (project / "shop/routes/__init__.py").read_text()


def test_outside_a_project_generate_says_where_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = g("model", "book")
    assert code == 2 and "bastion new NAME" in out


def test_g_is_generate_under_a_short_name() -> None:
    help_text = CliRunner().invoke(main, ["--help"]).output
    assert "Short for `bastion generate`" in help_text
    listed = CliRunner().invoke(main, ["g", "--help"]).output
    for name in ("model", "resource", "controller", "channel", "job", "mail", "migration", "form"):
        assert f"  {name} " in listed


@pytest.mark.parametrize("name", ["class", "2fast", "my-model!"])
def test_a_name_python_cannot_import_is_refused(project: Path, name: str) -> None:
    code, out = g("model", name)
    assert code == 2 and "cannot name a model" in out
    assert not list((project / "shop/models").glob("*.py"))[1:]  # only __init__.py
