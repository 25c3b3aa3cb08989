"""The app named in ``BASTION_APP``, for servers that import their app by name in processes
of their own (uvicorn's reloader, granian's workers): ``bastion.cli._target:app`` with
``factory=True`` gives them exactly what ``load_app`` gives every command, so ``file.py:app``
and ``module:create_app()`` work there too."""

from __future__ import annotations

import os
from typing import Any

import click

from bastion.cli import _logging
from bastion.cli.loading import load_app

#: Where ``bastion run`` / ``bastion serve --server granian`` put MODULE:APP for the servers.
VARIABLE = "BASTION_APP"
IMPORT_STRING = "bastion.cli._target:app"
#: Set by ``bastion serve --server granian`` for its workers (see _granian.prepare_worker).
GRANIAN_WORKER = "BASTION_GRANIAN_WORKER"


def app() -> Any:
    """Load the app named in ``BASTION_APP`` and install its log format. A mistake (an
    edit the reloader picked up) is one sentence and an exit: the reloader waits for a fix."""
    try:
        loaded = load_app(os.environ[VARIABLE], build=True)
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    _logging.configure(loaded)
    if os.environ.get(GRANIAN_WORKER):
        from bastion.cli import _granian

        return _granian.prepare_worker(loaded)
    return loaded
