"""The ``bastion`` command: run, serve, deploy, routes, openapi, and plugins' commands."""

from __future__ import annotations

import json
import os

import click
from rich.console import Console
from rich.table import Table

from bastion.cli.deploy import deploy
from bastion.cli.loading import load_app
from bastion.cli.serve import serve

APP_ARGUMENT = click.argument("target", metavar="MODULE:APP")


class BastionGroup(click.Group):
    """Adds the plugin commands of the app named by ``--app`` / ``BASTION_APP``."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        target = ctx.params.get("app") or os.environ.get("BASTION_APP")
        if not target:
            return {}
        app = load_app(target)
        return {command.name: command for command in app.cli_commands if command.name}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._plugin_commands(ctx).get(name)


@click.group(cls=BastionGroup)
@click.option(
    "--app",
    "app",
    metavar="MODULE:APP",
    default=None,
    help="The app whose plugin commands to offer (or set BASTION_APP).",
)
def main(app: str | None) -> None:
    """Bastion: run, serve and inspect an application.

    \b
    Examples:
      bastion run myapp:app             development server with reload
      bastion serve myapp:app -w 4      production server, 4 worker processes
      bastion routes myapp:app          the route table
      bastion openapi myapp:app         the OpenAPI document
      bastion deploy kubernetes myapp:app   a Deployment with health probes
    """


@main.command()
@APP_ARGUMENT
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--reload/--no-reload",
    default=True,
    show_default=True,
    help="Restart when a Python file changes.",
)
@click.option("--reload-dir", multiple=True, help="Directories to watch (default: current).")
def run(target: str, host: str, port: int, reload: bool, reload_dir: tuple[str, ...]) -> None:
    """Start the development server: reload on change, the debug page on errors.

    \b
    Example: bastion run examples.tour.app:app --port 8000
    """
    import uvicorn

    os.environ.setdefault("BASTION_PROFILE", "dev")
    load_app(target)  # fail here, readably, rather than inside the reloader
    Console(stderr=True).print(
        f"[bold green]Bastion[/] dev server on [link]http://{host}:{port}[/]  "
        f"(docs: http://{host}:{port}/docs)  reload={'on' if reload else 'off'}"
    )
    uvicorn.run(
        target,
        host=host,
        port=port,
        reload=reload,
        reload_dirs=list(reload_dir) or None,
        log_level="info",
    )


main.add_command(serve)
main.add_command(deploy)


@main.command()
@APP_ARGUMENT
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def routes(target: str, as_json: bool) -> None:
    """Print the route table: methods, path, name, handler, parameters, tags."""
    from dataclasses import asdict

    from bastion.routing.inspect import route_table

    rows = route_table(load_app(target))
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2))
        return
    table = Table(title=f"Routes of {target}")
    for column in ("methods", "path", "name", "handler", "parameters", "tags"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            ", ".join(row.methods),
            row.path,
            row.name,
            row.handler,
            " ".join(row.params),
            ", ".join(row.tags),
        )
    Console().print(table)


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
    """Print the OpenAPI 3.1 document."""
    from bastion.openapi import build_document

    text = json.dumps(build_document(load_app(target)), indent=indent, ensure_ascii=False)
    if output:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text)
