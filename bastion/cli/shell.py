"""``bastion shell``: a REPL with the app built and started, a database session and the
models imported, where ``await`` works at the top level.

The app runs on an event loop in a background thread, inside its lifespan, for the whole
session; the REPL runs in the main thread (so Ctrl-C, readline and IPython behave) and hands
every awaited expression to that loop. So the session, the engine and anything the lifespan
started live on one loop, as they do under a server. IPython is used when installed
(``--plain`` refuses it), the standard ``code`` console otherwise.
"""

from __future__ import annotations

import ast
import asyncio
import code
import concurrent.futures
import importlib
import inspect
import os
import sys
import threading
import types
from collections.abc import Coroutine
from typing import Any

import click

from bastion.cli.loading import load_app


class _Loop:
    """An event loop in a daemon thread that runs the app's lifespan until ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._stop: asyncio.Event | None = None

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:  # Ctrl-C stops the awaited statement, not just the wait
            future.cancel()
            raise

    def start(self, app: Any) -> None:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def hold() -> None:
            self._stop = asyncio.Event()
            app.serving = False  # a shell serves nothing (no gRPC server: see App.serving)
            try:
                async with app.lifespan():
                    ready.set_result(None)
                    await self._stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        self._held = asyncio.run_coroutine_threadsafe(hold(), self.loop)
        ready.result()

    def close(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            try:
                self._held.result(timeout=30)
            except Exception as exc:
                click.echo(f"Shutting the app down failed: {exc}", err=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class AwaitingConsole(code.InteractiveConsole):
    """The standard console, compiling with top-level ``await`` (as ``python -m asyncio``)
    and running what it awaits on the app's loop."""

    def __init__(self, namespace: dict[str, Any], loop: _Loop) -> None:
        super().__init__(namespace)
        self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self._loop = loop

    def runcode(self, code: types.CodeType) -> None:
        try:
            result = types.FunctionType(code, self.locals)()
            if inspect.iscoroutine(result):
                self._loop.run(result)
        except SystemExit:
            raise
        except BaseException:
            self.showtraceback()


def namespace_for(app: Any, loop: _Loop, models_module: str | None) -> dict[str, Any]:
    """What the REPL starts with: the app, its settings, ``db`` (an AsyncSession) when the
    app has SQLAlchemyPlugin, ``select``, and every model class."""
    names: dict[str, Any] = {"app": app, "settings": app.settings}
    if models_module:
        try:
            importlib.import_module(models_module)
        except ModuleNotFoundError as exc:
            if exc.name != models_module:
                raise
    database = next((p for p in app.plugins if type(p).__name__ == "SQLAlchemyPlugin"), None)
    if database is not None and database.sessions is not None:
        from sqlalchemy import func, select

        from bastion.db import Model

        names["select"], names["func"] = select, func
        names["db"] = loop.run(_session(database))
        for mapper in sorted(Model.registry.mappers, key=lambda m: m.class_.__name__):
            names.setdefault(mapper.class_.__name__, mapper.class_)
    return names


async def _session(database: Any) -> Any:
    return database.sessions()


def banner(target: str, names: dict[str, Any]) -> str:
    shown = ", ".join(names)
    return (
        f"Bastion shell: {target} started (profile {names['settings'].profile}).\n"
        f"In the namespace: {shown}.\n"
        "Use await at the top level, e.g. (await db.scalars(select(Model))).all(); "
        "db is one AsyncSession: await db.commit() to keep changes. Ctrl-D quits."
    )


def _default_target() -> tuple[str, str | None]:
    from bastion.cli._project import find_layout

    environ = os.environ.get("BASTION_APP")
    try:
        layout = find_layout()
    except click.UsageError:
        if environ:
            return environ, None
        raise click.UsageError(
            "Name the app: bastion shell MODULE:APP (or set BASTION_APP, or run inside a "
            "project made by `bastion new`)"
        ) from None
    return environ or layout.app, layout.module("models")


@click.command("shell")
@click.argument("target", metavar="MODULE:APP", required=False)
@click.option("--plain", is_flag=True, help="The standard REPL even if IPython is installed.")
def shell(target: str | None, plain: bool) -> None:
    """A Python REPL with the app started, a database session and the models imported.

    \b
    Example: bastion shell shop.main:app
      >>> await db.scalar(select(func.count()).select_from(Product))
    """
    models: str | None = None
    if target is None:
        target, models = _default_target()
    else:
        models = f"{target.partition(':')[0].rpartition('.')[0] or target.partition(':')[0]}.models"
    app = load_app(target, build=True)
    loop = _Loop()
    try:
        loop.start(app)
        names = namespace_for(app, loop, models)
        text = banner(target, names)
        try:
            if plain:
                raise ImportError
            import IPython  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            AwaitingConsole(names, loop).interact(banner=text, exitmsg="")
        else:  # pragma: no cover - IPython is optional
            from traitlets.config import Config  # type: ignore[import-not-found,unused-ignore]

            config = Config()
            config.InteractiveShell.loop_runner = loop.run
            config.InteractiveShell.autoawait = True
            config.TerminalInteractiveShell.banner1 = text + "\n"
            IPython.start_ipython(argv=[], user_ns=names, config=config)
        if "db" in names:
            loop.run(names["db"].close())
    finally:
        loop.close()
        sys.stdout.flush()
