"""The ``bastion`` command: run, serve, deploy, routes, openapi, and plugins' commands."""

from __future__ import annotations

import json
import os
import shlex

import click
from rich.console import Console
from rich.table import Table

from bastion.cli.deploy import deploy
from bastion.cli.generate import g, generate
from bastion.cli.graphql import graphql
from bastion.cli.i18n import i18n
from bastion.cli.loading import load_app
from bastion.cli.new import new
from bastion.cli.run import run
from bastion.cli.serve import serve
from bastion.cli.shell import shell

__all__ = ["main"]

APP_ARGUMENT = click.argument("target", metavar="MODULE:APP")
#: ``ctx.meta`` key: how to call ``bastion`` again for the same app, for plugins' "next:"
#: hints (``bastion --app 'shop:create_app()'``), quoted for a POSIX shell.
AGAIN = "bastion.again"
#: Commands that batteries add, and the plugin to add when the app lacks one.
_BATTERY_COMMANDS = {"db": "SQLAlchemyPlugin (from bastion.db)"}


class BastionGroup(click.Group):
    """Adds the commands of the app's plugins, the app being named by ``--app`` or
    ``BASTION_APP``; says how to name it when a plugin command is asked for without it."""

    def _target(self, ctx: click.Context) -> str | None:
        # --help is eager: with BASTION_APP it may run before --app's value is stored.
        target: str | None = ctx.params.get("app") or os.environ.get("BASTION_APP") or None
        return target

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        target = self._target(ctx)
        if not target:
            return {}
        loaded: dict[str, dict[str, click.Command]] = ctx.meta.setdefault("bastion.plugins", {})
        if target not in loaded:  # once: a factory (module:create_app()) makes a new app
            app = load_app(target)
            loaded[target] = {c.name: c for c in app.cli_commands if c.name}
        return loaded[target]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._plugin_commands(ctx).get(name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:  # only "No such command": add where commands come from
            hint = self._missing_hint(ctx, args[0])
            raise click.UsageError(f"{exc.message} {hint}", ctx) from None

    def _missing_hint(self, ctx: click.Context, name: str) -> str:
        target = self._target(ctx)
        if target is None:
            return (
                f"Commands such as `db` come from the app's plugins: name the app with "
                f"`bastion --app MODULE:APP {name} ...` or set BASTION_APP=MODULE:APP."
            )
        offered = ", ".join(sorted(self._plugin_commands(ctx))) or "no commands"
        hint = f"The plugins of {target} add {offered}."
        if name in _BATTERY_COMMANDS:
            hint += f" `{name}` comes from {_BATTERY_COMMANDS[name]}: add it to App(plugins=[...])."
        return hint

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        plugins = self._plugin_commands(ctx)
        sections = [
            ("Commands", super().list_commands(ctx)),
            (f"Commands from the plugins of {self._target(ctx)}", sorted(plugins)),
        ]
        limit = formatter.width - 6 - max(map(len, self.list_commands(ctx)))
        for title, names in sections:
            rows = []
            for name in names:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        if not plugins:
            formatter.write_paragraph()
            formatter.write_text(
                "Plugins add commands (such as `db`); name the app to see them: "
                "bastion --app MODULE:APP --help, or set BASTION_APP=MODULE:APP."
            )


@click.group(cls=BastionGroup)
@click.option(
    "--app",
    "app",
    metavar="MODULE:APP",
    default=None,
    is_eager=True,  # before --help, so that the help lists the app's plugin commands
    help="The app whose plugin commands to offer (or set BASTION_APP).",
)
@click.version_option(package_name="bastion", prog_name="bastion", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context, app: str | None) -> None:
    """Bastion: run, serve and inspect an application.

    \b
    Examples:
      bastion run myapp:app             development server with reload
      bastion serve myapp:app -w 4      production server, 4 worker processes
      bastion routes myapp:app          the route table
      bastion openapi myapp:app         the OpenAPI document
      bastion deploy kubernetes myapp:app   a Deployment with health probes
      bastion --app myapp:app db upgrade    a plugin's command (here SQLAlchemyPlugin's)
      bastion new shop -t api           a new project; in it: bastion g resource ..., bastion shell
    """
    target = app or os.environ.get("BASTION_APP")
    ctx.meta[AGAIN] = f"bastion --app {shlex.quote(target)}" if target else "bastion"


main.add_command(run)
main.add_command(serve)
main.add_command(deploy)
main.add_command(i18n)
main.add_command(graphql)
main.add_command(new)
main.add_command(generate)
main.add_command(g)
main.add_command(shell)


@main.command()
@APP_ARGUMENT
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def routes(target: str, as_json: bool) -> None:
    """Print the route table: methods, path, name, handler, parameters, tags.

    \b
    Example: bastion routes myapp:app --json
    """
    from dataclasses import asdict

    from bastion.routing.inspect import route_table

    rows = route_table(load_app(target, build=True))
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2))
        return
    # fold, never "…": a path or handler is copied from here, so none may be cut short
    table = Table(title=f"Routes of {target}")
    for column in ("methods", "path", "name", "handler", "parameters", "tags"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            ", ".join(row.methods),
            row.path,
            row.name,
            row.handler,
            " ".join(row.params),
            ", ".join(row.tags),
        )
    _print_wide(table)


def _print_wide(table: Table) -> None:
    """A terminal folds long cells to its width; a pipe or file gets the whole table on
    one line per row (rich would otherwise fit it to 80 columns), so grep finds a path."""
    console = Console()
    if not console.is_terminal:
        natural = Console(width=100_000).measure(table).maximum
        console = Console(width=max(console.width, natural))
    console.print(table)


@main.command()
@APP_ARGUMENT
@click.option("--indent", default=2, show_default=True, type=int)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to a file instead of standard output.",
)
def openapi(target: str, indent: int, output: str | None) -> None:
    """Print the OpenAPI 3.1 document.

    \b
    Example: bastion openapi myapp:app -o openapi.json
    """
    from bastion.openapi import build_document

    text = json.dumps(
        build_document(load_app(target, build=True)), indent=indent, ensure_ascii=False
    )
    if output:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text)
