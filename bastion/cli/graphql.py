"""``bastion graphql schema MODULE:APP``: the app's GraphQL schema as SDL, for clients'
code generators, schema registries and a review of what changed.

Imports Strawberry only when run, so the CLI starts without the ``graphql`` extra.
"""

from __future__ import annotations

import click

from bastion.cli.loading import load_app


@click.group()
def graphql() -> None:
    """GraphQL tools (needs the graphql extra)."""


@graphql.command()
@click.argument("target", metavar="MODULE:APP")
@click.option("--path", default=None, help="Which endpoint, when the app serves several.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to a file instead of standard output.",
)
def schema(target: str, path: str | None, output: str | None) -> None:
    """Print the schema in GraphQL SDL.

    \b
    Example: bastion graphql schema myapp:app -o schema.graphql
    """
    from bastion.graphql import GraphQL

    app = load_app(target)
    endpoints = [p for p in app.plugins if isinstance(p, GraphQL)]
    if path is not None:
        endpoints = [e for e in endpoints if e.path == path]
    if not endpoints:
        where = f" at {path}" if path else ""
        raise click.ClickException(
            f"{target} serves no GraphQL schema{where}: add "
            "plugins=[GraphQL(schema)] (from bastion.graphql) to App(...)"
        )
    if len(endpoints) > 1:
        paths = ", ".join(e.path for e in endpoints)
        raise click.ClickException(
            f"{target} serves several schemas ({paths}): pick one with --path"
        )
    text = endpoints[0].schema.as_str()
    if output:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text)
