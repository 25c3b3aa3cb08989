"""``bastion run``: the development server, uvicorn with reload and the ``dev`` profile."""

from __future__ import annotations

import logging
import os

import click
from rich.console import Console

from bastion.cli import _logging, _target
from bastion.cli.loading import load_app


@click.command()
@click.argument("target", metavar="MODULE:APP")
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
    console = Console(stderr=True)
    with console.status(f"Loading {target}"):
        app = load_app(target, build=True)  # fail here, readably, not inside the reloader
    _logging.configure(app)
    console.print(
        f"[bold green]Bastion[/] dev server on [link]http://{host}:{port}[/]  "
        f"(docs: http://{host}:{port}/docs)  reload={'on' if reload else 'off'}",
        soft_wrap=True,
    )
    options = _logging.uvicorn_options(app, access_log=True)
    if not reload:
        uvicorn.run(app, host=host, port=port, log_level="info", **options)
        return
    # The reloader serves from a fresh process, which imports the app by name: it gets it
    # from the same loader, so file.py:app and module:create_app() work there too.
    os.environ[_target.VARIABLE] = target
    # watchfiles logs every file written under the folder (a SQLite database, a log) at INFO
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    uvicorn.run(
        _target.IMPORT_STRING,
        factory=True,
        host=host,
        port=port,
        reload=True,
        reload_dirs=list(reload_dir) or None,
        log_level="info",
        **options,
    )
