"""Find the app named on the command line: ``module:app``, ``file.py:app``, ``module:create()``.

Every command and every server process loads the app here (``bastion.cli.target`` serves the
same loader to servers that import an app by name), so the three forms work everywhere.
A mistake in the user's code stops the command with one sentence and the file:line that
raised, not a traceback through importlib.
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click

import bastion

#: Folders whose frames are not the user's code: the standard library, installed packages
#: and Bastion itself.
_NOT_YOURS = tuple(
    str(Path(folder).resolve())
    for folder in {
        *(sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")),
        str(Path(bastion.__file__).parent),
    }
)


def load_app(target: str, *, build: bool = False) -> Any:
    """Import ``target`` and return the Bastion app it names; ``build`` also compiles its
    routes, so that a route mistake stops the command before a server starts."""
    from bastion.app import App
    from bastion.exceptions import ConfigurationError

    module_name, _, attribute = target.partition(":")
    attribute = attribute or "app"
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    if module_name.endswith(".py"):
        module_name = _module_of_file(module_name)
    module = _import(module_name, target)
    factory = attribute.endswith("()")
    name = attribute.removesuffix("()")
    try:
        app = getattr(module, name)
    except AttributeError:
        raise click.UsageError(
            f"Module {module_name!r} has no attribute {name!r}; write MODULE:ATTRIBUTE, "
            f"e.g. {module_name}:app"
        ) from None
    if factory:
        try:
            app = app()
        except Exception as exc:
            raise _failure(f"Calling {module_name}:{name}() failed", exc) from None
    if not isinstance(app, App):
        hint = ""
        if callable(app) and not factory:
            hint = f"; if it makes the app, write {module_name}:{name}() to call it"
        raise click.UsageError(f"{target!r} is a {type(app).__name__}, not a bastion.App{hint}")
    if build:
        try:
            app._ensure_built()
        except ConfigurationError as exc:
            raise _failure(f"{target} cannot start", exc) from None
        except Exception as exc:
            if _user_frame(exc) is None:
                raise  # not the user's code: the traceback is what a bug report needs
            raise _failure(f"{target} cannot start", exc) from None
    return app


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """``app.lifespan()`` for a command (``bastion worker``, ``bastion messages publish``): a
    start-up that fails on configuration (a broker URL refused) stops the command with its
    sentence, not a traceback through asyncio and click."""
    from bastion.exceptions import ConfigurationError

    app.serving = False  # a command's process: no gRPC server here (see App.serving)
    try:
        await app.startup()
    except ConfigurationError as exc:
        raise click.ClickException(f"The app cannot start: {exc}") from None
    try:
        yield app
    finally:
        await app.shutdown()


def _module_of_file(file: str) -> str:
    """``shop/main.py`` → ``shop.main``, importable from the folder above its outermost
    package (put first on ``sys.path``), so the file's relative imports work, as in Flask."""
    path = Path(file).resolve()
    if not path.is_file():
        raise click.UsageError(f"No file {file!r}; give a path to a Python file")
    parts = [] if path.stem == "__init__" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if str(folder) in sys.path:
        sys.path.remove(str(folder))
    sys.path.insert(0, str(folder))
    return ".".join(parts)


def _import(module_name: str, target: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise click.UsageError(
                f"Cannot import {module_name!r}: run from the folder that contains it, or use "
                "a dotted module path (package.module:app) or a file path (app.py:app)"
            ) from None
        raise _failure(f"Importing {module_name} failed", exc) from None
    except Exception as exc:
        raise _failure(f"Importing {module_name} failed", exc) from None


def _failure(what: str, exc: Exception) -> click.ClickException:
    """One sentence for the user: what failed, the error, and where in their code."""
    from bastion.exceptions import ConfigurationError

    reason = str(exc) if isinstance(exc, ConfigurationError) else _describe(exc)
    where = _user_frame(exc)
    return click.ClickException(f"{what}: {reason}" + (f" (at {where})" if where else ""))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _user_frame(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame in the user's code (or of a syntax error)."""
    if isinstance(exc, SyntaxError) and exc.filename and not exc.filename.startswith("<"):
        return f"{_shown(exc.filename)}:{exc.lineno}"
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if not frame.filename.startswith("<") and not _resolved(frame.filename).startswith(
            _NOT_YOURS
        ):
            found = f"{_shown(frame.filename)}:{frame.lineno}"
    return found


def _resolved(filename: str) -> str:
    return str(Path(filename).resolve())


def _shown(filename: str) -> str:
    """Relative to the current folder when inside it: what the user would type."""
    path = Path(filename).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
