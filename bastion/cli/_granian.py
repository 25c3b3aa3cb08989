"""``bastion serve`` on granian: granian's own worker manager, with Bastion's promises kept.

The uvicorn path (supervisor.py) drains on SIGTERM, trusts proxy headers when asked, lets
orphaned workers go and stops with exit code 3 when the app cannot start. Granian's manager
does the serving; this module adds those four around it:

- **Drain.** The manager ignores SIGUSR1 before it spawns workers (the workers inherit that),
  and each worker's app turns SIGUSR1 into ``app.draining``. On SIGTERM the manager sends
  SIGUSR1 to every worker, so ``/health/ready`` answers 503, and hands the SIGTERM to granian
  only after ``--drain-delay`` seconds. SIGINT, or a second signal, stops at once.
- **Proxy headers.** Granian's own ASGI wrapper, trusting ``FORWARDED_ALLOW_IPS`` as uvicorn
  does (127.0.0.1 unless set).
- **Orphans.** A worker whose manager disappears sends itself SIGTERM: granian's worker
  then finishes its requests and exits.
- **Start-up failure.** Each worker's app leaves a mark in the runtime folder once it has
  started; when granian gives up on workers that never got there, the exit code is 3.
- **A stop during start-up.** A forked worker keeps the manager's SIGTERM handler until
  granian sets its own, after the app is imported: a SIGTERM in that window would be lost,
  and the worker would serve until the manager killed it after the grace period. The
  worker notes it instead, and stops itself once its app has started.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bastion.cli import _target
from bastion.cli.supervisor import STARTUP_FAILED

PROXY_VARIABLE = "BASTION_PROXY_HEADERS"
_STARTED_MARK = "started-{pid}"
_stop_asked_before_start = False  # set in a worker by the handler it inherited (see above)


def serve(
    target: str,
    host: str,
    port: int,
    count: int,
    folder: Path,
    *,
    grace: float,
    drain_delay: float,
    access_log: bool,
    proxy_headers: bool,
    own_logs: bool,
) -> int:
    """Run granian until it stops; the exit code for the process. ``own_logs``: the app's
    observability plugin writes the logs, so granian's lines go through its format."""
    try:
        from granian import Granian
        from granian.constants import Interfaces
    except ImportError:
        raise click.ClickException(
            "--server granian needs granian: `pip install 'bastion[granian]'`, or use "
            "--server uvicorn"
        ) from None

    class Manager(Granian):  # type: ignore[misc, valid-type]  # granian ships no stubs here
        """Granian's manager with a drain before SIGTERM reaches the workers."""

        stop_requested = False

        def signal_handler_interrupt(self, signum: int | None = None, *args: Any) -> None:
            if os.getpid() != self.pid:  # in a worker that has not set granian's handler yet
                global _stop_asked_before_start
                _stop_asked_before_start = True
                return
            if self.stop_requested or signum != signal.SIGTERM or drain_delay <= 0:
                super().signal_handler_interrupt()
                return
            self.stop_requested = True
            for worker in list(self.wrks):
                pid = worker._id()
                if pid:
                    with suppress(ProcessLookupError):  # it exited since the listing
                        os.kill(pid, signal.SIGUSR1)
            stop = threading.Timer(drain_delay, super().signal_handler_interrupt)
            stop.daemon = True
            stop.start()

    os.environ[_target.VARIABLE] = target
    os.environ[_target.GRANIAN_WORKER] = "1"
    os.environ[PROXY_VARIABLE] = "1" if proxy_headers else ""
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # inherited by workers until their app starts
    manager = Manager(
        _target.IMPORT_STRING,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=count,
        respawn_failed_workers=True,
        workers_kill_timeout=math.ceil(grace) or None,
        factory=True,
        log_access=access_log,
        log_dictconfig=_THROUGH_THE_APPS_FORMAT if own_logs else None,
    )
    try:
        manager.serve()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if code and not any(folder.glob(_STARTED_MARK.format(pid="*"))):
            Console(stderr=True).print(
                "[bold red]The workers could not start the app[/] (see the error above); stopping"
            )
            return STARTUP_FAILED
        return code
    return 0


#: granian's loggers without handlers of their own: their lines reach the root logger, where
#: the observability plugin's handler writes them like every other line.
_THROUGH_THE_APPS_FORMAT = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


def prepare_worker(app: Any) -> Any:
    """In a granian worker: drain on SIGUSR1, follow the manager, mark start-up; the ASGI
    callable to serve (the app, behind the proxy-headers wrapper when asked)."""
    signal.signal(signal.SIGUSR1, lambda signum, frame: setattr(app, "draining", True))
    manager = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(manager,), daemon=True).start()
    folder = os.environ.get("BASTION_RUNTIME_DIR")
    if folder:
        mark = Path(folder) / _STARTED_MARK.format(pid=os.getpid())
        app.on_startup.append(mark.touch)
    app.on_startup.append(_stop_if_asked_before_start)
    if not os.environ.get(PROXY_VARIABLE):
        return app
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    return wrap_asgi_with_proxy_headers(app, os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))


def _stop_if_asked_before_start() -> None:
    """Granian's own SIGTERM handler is set by now: send the lost signal again."""
    if _stop_asked_before_start:
        os.kill(os.getpid(), signal.SIGTERM)


def _exit_when_orphaned(manager: int) -> None:
    while os.getppid() == manager:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)  # granian's worker finishes its requests, then exits
