"""``bastion new NAME``: a runnable project from a template (``api`` or ``fullstack``).

Templates live in ``project_templates/``: ``common/`` plus the template's own folder, whose
files win. A path part ``__pkg__`` becomes the package's name, ``_github`` ``.github``,
``gitignore``/``env.example``/``pre-commit-config.yaml`` their dotted names, and every
file loses its ``.jinja`` suffix (which ships it in the wheel). ``[[pkg]]``-style markers
are replaced in the text: pages keep their own ``{{ }}`` for Jinja at run time.

After writing the files, two commands of the project's own run against it: ``bastion
deploy dockerfile`` writes the Dockerfile and ``bastion db revision --autogenerate`` the
first migration (on a throwaway database), so both match the app exactly.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console

from bastion.cli._project import Plan, identifier

TEMPLATES = Path(__file__).parent / "project_templates"
CHOICES = ("api", "fullstack")
_DOTTED = {"_github": ".github", "gitignore": ".gitignore", "env.example": ".env.example"}
_DOTTED["pre-commit-config.yaml"] = ".pre-commit-config.yaml"


def render(template: str, values: dict[str, str]) -> dict[Path, str]:
    """The project's files (relative path → text) for ``template``."""
    files: dict[Path, str] = {}
    for folder in (TEMPLATES / "common", TEMPLATES / template):
        for source in sorted(folder.rglob("*.jinja")):
            parts = list(source.relative_to(folder).with_suffix("").parts)
            parts = [values["pkg"] if p == "__pkg__" else _DOTTED.get(p, p) for p in parts]
            text = source.read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace(f"[[{key}]]", value)
            files[Path(*parts)] = text
    return files


@click.command("new")
@click.argument("name")
@click.option(
    "-t", "--template", type=click.Choice(CHOICES), default=None,
    help="api: a JSON API with auth; fullstack: pages, forms, jobs, channels. Asked if omitted.",
)  # fmt: skip
@click.option("--python", default=None, help="Python version for CI and the Dockerfile [3.12].")
@click.option("-d", "--directory", default=None, help="Folder to create [./NAME].")
@click.option("--force", is_flag=True, help="Write into an existing folder, overwriting.")
@click.option("--no-input", is_flag=True, help="Ask nothing: defaults for what is not given.")
@click.option("--no-setup", is_flag=True, help="Skip the Dockerfile and first migration.")
def new(
    name: str,
    template: str | None,
    python: str | None,
    directory: str | None,
    force: bool,
    no_input: bool,
    no_setup: bool,
) -> None:
    """Create a project: app, tests, migrations, Dockerfile, CI, README.

    \b
    Examples:
      bastion new shop                       asks for the template
      bastion new shop --template api        asks nothing
      cd shop && make test && make run
    """
    package = identifier(name, "project")
    if package in sys.stdlib_module_names or importlib.util.find_spec(package) is not None:
        raise click.UsageError(
            f"{package!r} is already an importable module here, so the project's package "
            f"would not be found: choose another NAME (e.g. {package}_app)"
        )
    ask = not no_input and sys.stdin.isatty()
    if template is None:
        template = (
            click.prompt("Template", type=click.Choice(CHOICES), default="api") if ask else "api"
        )
    if python is None:
        python = click.prompt("Python version", default="3.12") if ask else "3.12"
    root = Path(directory or name).resolve()
    if root.exists() and any(root.iterdir()) and not force:
        raise click.ClickException(
            f"{root} exists and is not empty: choose another NAME or --directory, or pass --force"
        )
    values = {
        "name": name,
        "pkg": package,
        "title": package.replace("_", " ").title(),
        "template": template,
        "python": python,
    }
    plan = Plan(root)
    files = render(template, values)
    for relative, text in files.items():
        plan.create(root / relative, text, _PURPOSE.get(relative.parts[0], ""))
    env = files[Path(".env.example")]
    secret = secrets.token_urlsafe(32)
    plan.create(
        root / ".env", env.replace(_PLACEHOLDER_SECRET, secret), "settings (a fresh secret)"
    )
    plan.run(force=force, dry_run=False, title=f"bastion new {name} --template {template}")
    (root / "migrations" / "versions").mkdir(parents=True, exist_ok=True)
    _copy_migration_environment(root / "migrations")
    if not no_setup:
        _setup(root, f"{package}.main:app", python)
    Console().print(
        f"\n[green]Created {name}[/] ({template}). Next:\n"
        f"  cd {os.path.relpath(root)}\n"
        "  pip install -e '.\\[dev]'   # if bastion is not installed\n"
        "  make test\n  make run"
    )


_PURPOSE = {
    "tests": "tests",
    "migrations": "migrations",
    ".github": "CI workflow",
    "README.md": "how to run and test",
    "Makefile": "make run, make test",
}
_PLACEHOLDER_SECRET = "change-me-to-a-random-value-of-at-least-32-characters"


def _copy_migration_environment(folder: Path) -> None:
    from bastion.db.migrations import TEMPLATE

    for name in ("env.py", "script.py.mako"):
        (folder / name).write_text((TEMPLATE / name).read_text(encoding="utf-8"), encoding="utf-8")


def _setup(root: Path, target: str, python: str) -> None:
    """The Dockerfile and the first migration, by the project's own commands."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "BASTION_DATABASE_URL": f"sqlite+aiosqlite:///{Path(scratch) / 'new.db'}",
            "BASTION_PROFILE": "dev",
        }
        cli = [sys.executable, "-m", "bastion.cli"]
        commands = [
            [*cli, "deploy", "dockerfile", target, "--python", python, "-o", "Dockerfile"],
            [*cli, "--app", target, "db", "revision", "--autogenerate", "-m", "initial tables"],
        ]
        for command in commands:
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise click.ClickException(
                    f"The project was written, but `{' '.join(command[3:])}` failed in it:\n"
                    f"{done.stderr.strip() or done.stdout.strip()}"
                )
