"""``bastion generate`` (``g``): models, resources, controllers, channels, jobs, mail,
migrations and forms, written where the project's layout says (see ``_project.Layout``)
and registered where the app finds them: a model in ``models/__init__.py``, a router in
``routes/__init__.py``, a channel in ``channels/__init__.py``, a job in ``jobs/__init__.py``.
Nothing is overwritten without ``--force``; ``--dry-run`` prints the plan and writes nothing.
"""

from __future__ import annotations

import ast
import datetime
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bastion.cli import _code
from bastion.cli._fields import FieldSpec, parse_fields
from bastion.cli._project import (
    Layout,
    Plan,
    add_import,
    add_to_all,
    append_line,
    camel,
    find_layout,
    identifier,
    snake,
)

FIELDS = click.argument("fields", nargs=-1, metavar="[FIELD:TYPE]...")


def _options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--force", is_flag=True, help="Overwrite existing files.")(command)
    return click.option("--dry-run", is_flag=True, help="Show the plan; write nothing.")(command)


@click.group("generate")
def generate() -> None:
    """Add code to a project: model, resource, controller, channel, job, mail, migration, form.

    \b
    Examples:
      bastion g resource post title:str:unique body:text published:bool
      bastion g model tag name:str --dry-run
      bastion g controller pages about contact
      bastion g migration "add index on posts"
    """


def _finish(plan: Plan, force: bool, dry_run: bool, title: str) -> None:
    plan.run(force=force, dry_run=dry_run, title=title)


def _register(plan: Plan, layout: Layout, folder: str, import_line: str, line: str) -> None:
    """Add ``import_line`` and ``line`` to ``<folder>/__init__.py``, which must exist."""
    init, source = _package(plan, layout, folder)
    plan.edit(init, append_line(add_import(source, import_line), line), "registers it")


def _package(plan: Plan, layout: Layout, folder: str) -> tuple[Path, str]:
    """``<folder>/__init__.py`` and its text, or the error that says what to create."""
    init = layout.folder(folder) / "__init__.py"
    source = plan.current(init)
    if source is None:
        raise click.UsageError(
            f"This project has no {plan.shown(init)}, where {folder} are registered (projects "
            f"made by `bastion new --template fullstack` have one); create it, or set "
            f'{folder} = "path/to/{folder}" under [tool.bastion] in pyproject.toml'
        )
    return init, source


def _register_in_admin(
    plan: Plan, layout: Layout, cls: str, model_import: str, specs: list[FieldSpec]
) -> None:
    """``admin.register(Model)`` at the end of ``register(admin)`` in the package's admin.py,
    when the project has one (the fullstack template's) and that function ends the file."""
    path = layout.root / layout.overrides.get(
        "admin", f"{layout.package.replace('.', '/')}/admin.py"
    )
    source = plan.current(path)
    if source is None:
        return
    last = ast.parse(source).body[-1:]
    if not (last and isinstance(last[0], ast.FunctionDef) and last[0].name == "register"):
        return  # no place we can be sure of: the user registers it
    source = add_import(source, f"from {model_import} import {cls}")
    # fields named: the admin's default form takes the read-only Timestamps columns too
    plan.edit(path, append_line(source, _code.admin_register(cls, specs)), f"admin shows {cls}")


def plan_model(plan: Plan, layout: Layout, name: str, fields: list[FieldSpec]) -> str:
    """The model, its registration and its migration; returns the class name."""
    module = identifier(name, "model")
    cls = camel(module)
    table = _plural(module)
    models = layout.folder("models")
    plan.create(models / f"{module}.py", _code.model(cls, table, fields), f"model {cls}")
    init, source = _package(plan, layout, "models")
    source = add_import(source, f"from {layout.module('models')}.{module} import {cls}")
    plan.edit(init, add_to_all(source, cls), f"imports {cls}")
    versions = layout.folder("migrations") / "versions"
    earlier = sorted(versions.glob(f"*_create_{table}.py"))
    if earlier:  # generating again (--force) rewrites that migration, never adds a second
        path = earlier[0]
        text = path.read_text(encoding="utf-8")
        revision, down = _assigned(text, "revision"), _assigned(text, "down_revision")
    else:
        revision, down = _revision(layout, plan)
        path = versions / f"{revision}_create_{table}.py"
    text = _code.create_table_migration(table, fields, revision, down, _now())
    plan.create(path, text, f"creates table {table}")
    return cls


@generate.command("model")
@click.argument("name")
@FIELDS
@_options
def model_command(name: str, fields: tuple[str, ...], force: bool, dry_run: bool) -> None:
    """A model and the migration that creates its table.

    \b
    Example: bastion g model tag name:str:unique
    """
    layout = find_layout()
    plan = Plan(layout.root)
    plan_model(plan, layout, name, parse_fields(fields))
    _finish(plan, force, dry_run, f"bastion generate model {name}")


@generate.command("resource")
@click.argument("name")
@FIELDS
@_options
def resource_command(name: str, fields: tuple[str, ...], force: bool, dry_run: bool) -> None:
    """A model, its migration, CRUD routes (CRUDRouter) and their tests.

    \b
    Example: bastion g resource post title:str:unique body:text published:bool
    """
    layout = find_layout()
    plan = Plan(layout.root)
    specs = parse_fields(fields)
    cls = plan_model(plan, layout, name, specs)
    module = snake(name)
    routes = _plural(module)
    model_import = f"{layout.module('models')}.{module}"
    _register_in_admin(plan, layout, cls, model_import, specs)
    text = _code.crud_routes(cls, model_import, routes, specs)
    plan.create(layout.folder("routes") / f"{routes}.py", text, f"CRUD routes /{routes}")
    _register(
        plan,
        layout,
        "routes",
        f"from {layout.module('routes')} import {routes}",
        f"router.include({routes}.router)",
    )
    plan.create(
        layout.folder("tests") / f"test_{routes}.py",
        _code.crud_tests(routes, specs),
        "tests of the routes",
    )
    _finish(plan, force, dry_run, f"bastion generate resource {name}")


@generate.command("controller")
@click.argument("name")
@click.argument("actions", nargs=-1)
@_options
def controller_command(name: str, actions: tuple[str, ...], force: bool, dry_run: bool) -> None:
    """A router with one GET route per action, and its tests.

    \b
    Example: bastion g controller pages about contact   (GET /pages/about, /pages/contact)
    """
    layout = find_layout()
    plan = Plan(layout.root)
    module = identifier(name, "controller")
    names = [identifier(a, "action") for a in actions or ("index",)]
    plan.create(
        layout.folder("routes") / f"{module}.py", _code.controller(module, names), f"/{module}"
    )
    _register(
        plan,
        layout,
        "routes",
        f"from {layout.module('routes')} import {module}",
        f"router.include({module}.router)",
    )
    plan.create(
        layout.folder("tests") / f"test_{module}.py",
        _code.controller_tests(module, names),
        "tests",
    )
    _finish(plan, force, dry_run, f"bastion generate controller {name}")


@generate.command("channel")
@click.argument("name")
@_options
def channel_command(name: str, force: bool, dry_run: bool) -> None:
    """A channel serving the ``NAME:*`` topics, registered on the app's socket.

    \b
    Example: bastion g channel room     (topics room:lobby, room:42, ...)
    """
    layout = find_layout()
    plan = Plan(layout.root)
    module = identifier(name, "channel")
    cls = f"{camel(module)}Channel"
    plan.create(layout.folder("channels") / f"{module}.py", _code.channel(module, cls), cls)
    _register(
        plan,
        layout,
        "channels",
        f"from {layout.module('channels')} import {module}",
        f'CHANNELS["{module}:*"] = {module}.{cls}',
    )
    plan.create(
        layout.folder("tests") / f"test_{module}_channel.py", _code.channel_tests(module), "tests"
    )
    _finish(plan, force, dry_run, f"bastion generate channel {name}")


@generate.command("job")
@click.argument("name")
@_options
def job_command(name: str, force: bool, dry_run: bool) -> None:
    """A background job, included in the app's ``jobs`` registry.

    \b
    Example: bastion g job send_report
    """
    layout = find_layout()
    plan = Plan(layout.root)
    module = identifier(name, "job")
    plan.create(layout.folder("jobs") / f"{module}.py", _code.job(module), f"job {module}")
    _register(
        plan,
        layout,
        "jobs",
        f"from {layout.module('jobs')} import {module}",
        f"jobs.include({module}.jobs)",
    )
    jobs_module = layout.module("jobs")
    plan.create(
        layout.folder("tests") / f"test_{module}_job.py",
        _code.job_tests(jobs_module, module, layout.package),
        "tests",
    )
    _finish(plan, force, dry_run, f"bastion generate job {name}")


@generate.command("mail")
@click.argument("name")
@_options
def mail_command(name: str, force: bool, dry_run: bool) -> None:
    """A mail: a function that sends it, and its HTML and text templates.

    \b
    Example: bastion g mail welcome
    """
    layout = find_layout()
    plan = Plan(layout.root)
    module = identifier(name, "mail")
    mail = layout.folder("mail")
    _package(plan, layout, "mail")
    templates = layout.folder("templates") / "mail"
    plan.create(mail / f"{module}.py", _code.mail(module), f"send_{module}()")
    plan.create(templates / f"{module}.html", _code.mail_html(module), "HTML part")
    plan.create(templates / f"{module}.txt", _code.mail_text(module), "text part")
    plan.create(
        layout.folder("tests") / f"test_{module}_mail.py",
        _code.mail_tests(layout.module("mail"), module),
        "tests",
    )
    _finish(plan, force, dry_run, f"bastion generate mail {name}")


@generate.command("form")
@click.argument("name")
@FIELDS
@_options
def form_command(name: str, fields: tuple[str, ...], force: bool, dry_run: bool) -> None:
    """A form (bastion.forms): from the fields given, else from the model of that name.

    \b
    Example: bastion g form contact email:str message:text
    """
    layout = find_layout()
    plan = Plan(layout.root)
    module = identifier(name, "form")
    cls = f"{camel(module)}Form"
    specs = parse_fields(fields)
    model = None
    if not specs:
        if not (layout.folder("models") / f"{module}.py").is_file():
            raise click.UsageError(
                f"Give the form's fields (bastion g form {name} email:str message:text), or "
                f"make the model first (bastion g model {name} ...) to derive the form from it"
            )
        model = (f"{layout.module('models')}.{module}", camel(module))
    forms = layout.folder("forms")
    if plan.current(forms / "__init__.py") is None:  # a package, for imports and tests
        plan.create(forms / "__init__.py", '"""Forms (bastion.forms), one module each."""\n', "")
    plan.create(forms / f"{module}.py", _code.form(cls, specs, model), cls)
    plan.create(
        layout.folder("tests") / f"test_{module}_form.py",
        _code.form_tests(layout.module("forms"), module, cls, specs),
        "tests",
    )
    _finish(plan, force, dry_run, f"bastion generate form {name}")


@generate.command("migration")
@click.argument("message")
@_options
def migration_command(message: str, force: bool, dry_run: bool) -> None:
    """An empty migration after the current head, to fill in (data, indexes, SQL).

    For changes to models, `bastion --app APP db revision --autogenerate -m ...` writes
    the operations itself.

    \b
    Example: bastion g migration "backfill slugs"
    """
    layout = find_layout()
    plan = Plan(layout.root)
    revision, down = _revision(layout, plan)
    slug = re.sub(r"\W+", "_", message.lower()).strip("_")[:40] or "migration"
    path = layout.folder("migrations") / "versions" / f"{revision}_{slug}.py"
    plan.create(path, _code.empty_migration(message, revision, down, _now()), message)
    _finish(plan, force, dry_run, f"bastion generate migration {message!r}")


def _revision(layout: Layout, plan: Plan) -> tuple[str, str | tuple[str, ...] | None]:
    """A new revision id and the current head(s) it follows (planned ones included)."""
    versions = layout.folder("migrations") / "versions"
    if not (layout.folder("migrations") / "env.py").is_file():
        raise click.UsageError(
            f"No migrations in {plan.shown(versions.parent)}: run "
            f"`bastion --app {layout.app} db init` first"
        )
    texts = [p.read_text(encoding="utf-8") for p in sorted(versions.glob("*.py"))]
    texts += [s.text for s in plan.steps if s.path.parent == versions]
    revisions: set[str] = set()
    parents: set[str] = set()
    for text in texts:
        found = _assigned(text, "revision")
        if isinstance(found, str):
            revisions.add(found)
        down = _assigned(text, "down_revision")
        parents.update([down] if isinstance(down, str) else down or ())
    heads = sorted(revisions - parents)
    return uuid.uuid4().hex[:12], (heads[0] if len(heads) == 1 else tuple(heads) or None)


def _assigned(text: str, name: str) -> Any:
    """The literal value a migration file assigns to ``name`` (annotated or not)."""
    for node in ast.parse(text).body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name and value is not None:
            try:
                return ast.literal_eval(value)
            except ValueError:
                return None
    return None


def _plural(word: str) -> str:
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


__all__ = ["g", "generate"]

#: ``bastion g``: the same commands under the short name.
g = click.Group("g", commands=generate.commands, help="Short for `bastion generate`.")
