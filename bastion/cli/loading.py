"""Find the app named on the command line: ``module:app``, ``file.py:app``, ``module:create()``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import click


def load_app(target: str) -> Any:
    """Import ``target`` and return the Bastion app it names."""
    from bastion.app import App

    module_name, _, attribute = target.partition(":")
    attribute = attribute or "app"
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            if not path.is_file():
                raise click.UsageError(f"No file {module_name!r}; give a path to a Python file")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise click.UsageError(
                f"Cannot import {module_name!r}: run from the folder that contains it, or use "
                "a dotted module path (package.module:app) or a file path (app.py:app)"
            ) from None
        raise
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
        app = app()
    if not isinstance(app, App):
        hint = ""
        if callable(app) and not factory:
            hint = f"; if it makes the app, write {module_name}:{name}() to call it"
        raise click.UsageError(f"{target!r} is a {type(app).__name__}, not a bastion.App{hint}")
    return app
