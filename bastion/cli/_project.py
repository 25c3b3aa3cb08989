"""A project's layout (where generators put files) and the plan of files a command writes.

The layout is what ``bastion new`` makes and what ``[tool.bastion]`` in pyproject.toml
states: ``package`` and ``app``, and any folder moved elsewhere (``models = "shop/db"``).
A project without that table is recognised by a package holding ``main.py`` or ``app.py``.
A plan is written whole or not at all: an existing file is a conflict unless ``--force``.
"""

from __future__ import annotations

import ast
import keyword
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

#: Folders of a project, relative to its package unless said otherwise; overridable in
#: ``[tool.bastion]`` with a path relative to the project's root.
FOLDERS = ("models", "routes", "jobs", "channels", "mail", "forms", "templates")


@dataclass(frozen=True)
class Layout:
    root: Path
    package: str
    app: str
    template: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)

    def folder(self, name: str) -> Path:
        """Where ``name`` (one of FOLDERS, or tests / migrations) lives."""
        if name in self.overrides:
            return self.root / self.overrides[name]
        if name in ("tests", "migrations"):
            return self.root / name
        return self.root / self.package.replace(".", "/") / name

    def module(self, name: str) -> str:
        """The dotted module path of a folder (``shop.models``)."""
        relative = self.folder(name).relative_to(self.root)
        return ".".join(relative.parts)


def find_layout(start: Path | None = None) -> Layout:
    """The layout of the project that holds ``start`` (default: the current folder)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            return _layout_of(folder, pyproject)
    raise click.UsageError(
        "No project here (no pyproject.toml in this folder or above): run inside a project "
        "made by `bastion new NAME`, or add [tool.bastion] with package and app to its "
        "pyproject.toml"
    )


def _layout_of(root: Path, pyproject: Path) -> Layout:
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except tomllib.TOMLDecodeError as exc:
        raise click.UsageError(f"{pyproject} is not valid TOML: {exc}") from None
    config = table.get("bastion", {})
    package = config.get("package") or _guess_package(root)
    if package is None:
        raise click.UsageError(
            f"{pyproject} has no [tool.bastion] and no package with a main.py or app.py: add "
            '[tool.bastion] with package = "yourpackage" and app = "yourpackage.main:app"'
        )
    app = config.get("app") or f"{package}.{_app_module(root / package)}:app"
    known = (*FOLDERS, "tests", "migrations", "admin")
    overrides = {k: str(v) for k, v in config.items() if k in known}
    return Layout(root, package, app, config.get("template"), overrides)


def _guess_package(root: Path) -> str | None:
    for child in sorted(root.iterdir()):
        if (child / "__init__.py").is_file() and any(
            (child / name).is_file() for name in ("main.py", "app.py")
        ):
            return child.name
    return None


def _app_module(package: Path) -> str:
    return (
        "main" if (package / "main.py").is_file() or not (package / "app.py").is_file() else "app"
    )


@dataclass
class Step:
    path: Path
    text: str
    what: str
    edit: bool = False  # a change to an existing file (a registration), never a conflict


class Plan:
    """Files to create and files to edit, shown as a table, written all at once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.steps: list[Step] = []

    def create(self, path: Path, text: str, what: str) -> None:
        self.steps.append(Step(path, text, what))

    def edit(self, path: Path, text: str, what: str) -> None:
        """Replace an existing file's text (for a file a previous step edited, its text)."""
        for step in self.steps:
            if step.path == path:
                step.text, step.what = text, f"{step.what}; {what}"
                return
        self.steps.append(Step(path, text, what, edit=True))

    def current(self, path: Path) -> str | None:
        """The text ``path`` will have: planned, or on disk."""
        for step in self.steps:
            if step.path == path:
                return step.text
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if not s.edit and s.path.exists()]

    def action(self, step: Step, force: bool) -> str:
        if step.edit:
            return "update"
        if step.path.exists():
            return "overwrite" if force else "conflict"
        return "create"

    def table(self, force: bool, title: str) -> Table:
        table = Table(title=title)
        for column in ("action", "file", "what"):
            table.add_column(column, overflow="fold")
        styles = {"create": "green", "update": "cyan", "overwrite": "yellow", "conflict": "red"}
        for step in self.steps:
            action = self.action(step, force)
            table.add_row(f"[{styles[action]}]{action}[/]", self.shown(step.path), step.what)
        return table

    def shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def run(self, *, force: bool, dry_run: bool, title: str) -> None:
        """Show the plan; unless a dry run, write it, or refuse it whole on a conflict."""
        console = Console()
        if dry_run:
            console.print(self.table(force, f"{title} (dry run: nothing written)"))
            return
        conflicts = self.conflicts()
        if conflicts and not force:
            names = ", ".join(self.shown(s.path) for s in conflicts)
            raise click.ClickException(
                f"Not overwriting {names}: nothing was written. Pass --force to overwrite, "
                "or --dry-run to see the plan"
            )
        table = self.table(force, title)  # before writing: "create" vs "overwrite"
        for step in self.steps:
            step.path.parent.mkdir(parents=True, exist_ok=True)
            step.path.write_text(step.text, encoding="utf-8")
        console.print(table)


def add_import(source: str, line: str) -> str:
    """``source`` with the import ``line`` after its last top-level import (once)."""
    if line in source.splitlines():
        return source
    tree = ast.parse(source)
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    lines = source.splitlines(keepends=True)
    at = imports[-1].end_lineno if imports else _after_docstring(tree)
    assert at is not None
    lines.insert(at, line + "\n")
    return "".join(lines)


def _after_docstring(tree: ast.Module) -> int:
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        return first.end_lineno or 0
    return 0


def append_line(source: str, line: str) -> str:
    """``source`` with ``line`` at its end (once)."""
    if line in source.splitlines():
        return source
    return source.rstrip("\n") + "\n" + line + "\n"


def add_to_all(source: str, name: str) -> str:
    """``source`` with ``name`` in its ``__all__`` list, kept sorted."""
    tree = ast.parse(source)
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            and isinstance(node.value, ast.List)
        ):
            names = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
            if name in names:
                return source
            listed = ", ".join(f'"{n}"' for n in sorted({*map(str, names), name}))
            lines = source.splitlines(keepends=True)
            start, end = node.lineno - 1, node.end_lineno or node.lineno
            lines[start:end] = [f"__all__ = [{listed}]\n"]
            return "".join(lines)
    return append_line(source, f'__all__ = ["{name}"]')


def snake(name: str) -> str:
    """``BlogPost``, ``blog-post``, ``blog post`` → ``blog_post``."""
    name = re.sub(r"[\s\-]+", "_", name.strip())
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return name.lower()


def camel(name: str) -> str:
    """``blog_post`` → ``BlogPost``."""
    return "".join(part.capitalize() for part in snake(name).split("_") if part)


def identifier(name: str, what: str) -> str:
    """``name`` as a Python identifier, or a usage error that says what to type."""
    value = snake(name)
    if not value.isidentifier() or keyword.iskeyword(value):
        raise click.UsageError(
            f"{name!r} cannot name a {what}: use letters, digits and underscores, starting "
            "with a letter (e.g. blog_post)"
        )
    return value
