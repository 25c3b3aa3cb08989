"""``bastion db``: Alembic migrations driven by the app's plugin (its URL and its models).

bastion --app shop:app db init                 # creates migrations/
bastion --app shop:app db revision --autogenerate -m "add books"
bastion --app shop:app db upgrade [REV]        # default head (every branch's); a line each
bastion --app shop:app db downgrade REV        # e.g. -1 or base
bastion --app shop:app db current | history | seed
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

if TYPE_CHECKING:
    from bastion.db.plugin import SQLAlchemyPlugin

TEMPLATE = Path(__file__).parent / "migration_template"
console = Console(stderr=True)


def _config(directory: Path, metadata: Any, branches: Sequence[tuple[Path, Any]] = ()) -> Any:
    """Alembic's configuration: the app's folder, plus the branches batteries ship (their
    folders as more version locations, their tables' metadata beside the app's, so that
    autogenerate neither drops nor recreates them)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(directory))
    if branches:
        locations = [directory / "versions", *(folder for folder, _ in branches)]
        config.set_main_option("path_separator", "os")
        config.set_main_option(
            "version_locations", os.pathsep.join(str(p).replace("%", "%%") for p in locations)
        )
        if metadata is not None:
            metadata = [metadata, *(tables for _, tables in branches)]
    config.attributes["metadata"] = metadata
    return config


def _with_connection(
    plugin: SQLAlchemyPlugin, directory: Path, run: Callable[[Any], Any], *, commit: bool = True
) -> None:
    """Open the plugin's database and run an Alembic command on one connection, in one
    transaction (rolled back unless ``commit``)."""
    from bastion.db.engine import create_engine
    from bastion.db.model import Model

    assert plugin.url is not None
    config = _config(directory, plugin.metadata or Model.metadata, plugin.migration_branches)

    async def main() -> None:
        engine = create_engine(plugin.url or "", echo=False)
        try:
            async with engine.connect() as connection:

                def work(sync_connection: Any) -> None:
                    config.attributes["connection"] = sync_connection
                    run(config)

                async with connection.begin() as transaction:
                    await connection.run_sync(work)
                    if not commit:
                        await transaction.rollback()
        finally:
            await engine.dispose()

    asyncio.run(main())


def _new_revision(config: Any, directory: Path, message: str, autogenerate: bool) -> None:
    """``alembic revision`` in the app's folder, on the app's own head. With batteries'
    branches, autogenerate compares the models with the database as it will be once those
    are applied: they are applied first, in the transaction the caller rolls back."""
    from alembic import command
    from alembic.script import ScriptDirectory

    if not config.get_main_option("version_locations"):
        command.revision(config, message, autogenerate=autogenerate)
        return
    scripts = ScriptDirectory.from_config(config)
    own, batteries = _split_by_folder(scripts, scripts.get_heads(), directory)
    if autogenerate:
        for head in batteries:
            command.upgrade(config, head)
    command.revision(
        config,
        message,
        autogenerate=autogenerate,
        head=own[0] if len(own) == 1 else "base" if not own else "head",
        version_path=str(directory / "versions"),
    )


def _downgrade(config: Any, directory: Path, revision: str) -> None:
    """``alembic downgrade``; with batteries' branches, ``-N`` steps back from the app's own
    revision (alone, Alembic would pick one of the heads, maybe a battery's)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if config.get_main_option("version_locations") and re.fullmatch(r"-\d+", revision):
        applied = MigrationContext.configure(config.attributes["connection"]).get_current_heads()
        own, _ = _split_by_folder(ScriptDirectory.from_config(config), applied, directory)
        if len(own) == 1:
            revision = f"{own[0]}@{revision}"
    command.downgrade(config, revision)


def _split_by_folder(
    scripts: Any, revisions: Sequence[str], directory: Path
) -> tuple[list[str], list[str]]:
    """``revisions`` in the app's folder, and the others (batteries')."""
    versions = (directory / "versions").resolve()
    own: list[str] = []
    others: list[str] = []
    for revision in revisions:
        script = scripts.get_revision(revision)
        mine = script is not None and Path(script.path).resolve().parent == versions
        (own if mine else others).append(revision)
    return own, others


def _progress() -> None:
    """Show Alembic's 'Running upgrade a -> b' lines as the migrations run."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("  %(message)s"))
    log = logging.getLogger("alembic.runtime.migration")
    log.setLevel(logging.INFO)
    if not log.handlers:
        log.addHandler(handler)


def db_commands(plugin: SQLAlchemyPlugin, app: Any) -> click.Group:
    """The ``db`` command group for one app's database."""

    @click.group("db")
    @click.option(
        "--directory",
        default=str(plugin.migrations),
        show_default=True,
        help="The migrations folder (default: SQLAlchemyPlugin(migrations=...)).",
    )
    @click.pass_context
    def db(ctx: click.Context, directory: str) -> None:
        """Database migrations (Alembic) and seed data."""
        ctx.obj = Path(directory)

    @db.command()
    @click.pass_obj
    def init(directory: Path) -> None:
        """Create the migrations folder."""
        if directory.exists():
            raise click.UsageError(f"{directory} already exists; migrations are set up")
        (directory / "versions").mkdir(parents=True)
        for name in ("env.py", "script.py.mako"):
            shutil.copy(TEMPLATE / name, directory / name)
        # The next step as it runs when pasted: the app named, the folder if not the default.
        again = click.get_current_context().meta.get("bastion.again", "bastion")
        default = directory == Path(plugin.migrations)
        folder = "" if default else f" --directory {shlex.quote(str(directory))}"
        console.print(
            f"Created [bold]{directory}/[/]; next: {again} db{folder} revision --autogenerate "
            '-m "first"',
            soft_wrap=True,  # a line broken at the terminal's width would not paste as one
        )

    @db.command()
    @click.option("-m", "--message", required=True, help="What the migration does.")
    @click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
    @click.pass_obj
    def revision(directory: Path, message: str, autogenerate: bool) -> None:
        """Write a new migration."""
        _need(directory)
        _with_connection(
            plugin,
            directory,
            lambda config: _new_revision(config, directory, message, autogenerate),
            commit=False,  # writing a migration changes no database
        )
        console.print(f"Wrote a migration: {message}")

    @db.command()
    @click.argument("revision", default="head")
    @click.pass_obj
    def upgrade(directory: Path, revision: str) -> None:
        """Apply migrations up to REVISION (default: head)."""
        from alembic import command

        _need(directory)
        _progress()
        target = "heads" if revision == "head" else revision  # the app's and batteries' heads
        _with_connection(plugin, directory, lambda config: command.upgrade(config, target))
        console.print(f"[green]Database at {revision}[/]")

    @db.command(context_settings={"ignore_unknown_options": True})  # lets "-1" through
    @click.argument("revision")
    @click.pass_obj
    def downgrade(directory: Path, revision: str) -> None:
        """Revert migrations down to REVISION (e.g. -1, or base)."""

        _need(directory)
        _progress()
        _with_connection(plugin, directory, lambda config: _downgrade(config, directory, revision))
        console.print(f"[yellow]Database at {revision}[/]")

    @db.command()
    @click.pass_obj
    def current(directory: Path) -> None:
        """Print the revision the database is at."""
        from alembic.runtime.migration import MigrationContext

        _need(directory)

        def show(config: Any) -> None:
            heads = MigrationContext.configure(config.attributes["connection"]).get_current_heads()
            click.echo(", ".join(heads) or "base (no migration applied)")

        _with_connection(plugin, directory, show)

    @db.command()
    @click.pass_obj
    def history(directory: Path) -> None:
        """List the migrations, newest first."""
        from alembic.script import ScriptDirectory

        _need(directory)
        scripts = ScriptDirectory.from_config(_config(directory, None, plugin.migration_branches))
        for script in scripts.walk_revisions():
            click.echo(f"{script.revision}  {script.doc}")

    @db.command()
    def seed() -> None:
        """Run the plugin's seed function in one committed session."""
        if plugin.seed is None:
            raise click.UsageError("No seed function: pass SQLAlchemyPlugin(seed=fn)")

        async def main() -> None:
            async with app.lifespan():
                assert plugin.sessions is not None
                async with plugin.sessions() as session:
                    await plugin.seed(session)  # type: ignore[misc]
                    await session.commit()

        asyncio.run(main())
        console.print("[green]Seeded[/]")

    return db


def _need(directory: Path) -> None:
    if not (directory / "env.py").is_file():
        raise click.UsageError(f"No migrations in {directory}/; run `bastion db init` first")
