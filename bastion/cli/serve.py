"""``bastion serve``: the production server, N workers under a supervisor (or granian)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bastion.cli import _target
from bastion.cli.loading import load_app


def cpu_count() -> int:
    """CPU cores this process may use: its affinity, capped by a cgroup quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


def worker_count(app: Any, given: int | None) -> int:
    """``--workers``, else ``settings.workers`` when configured, else one per core."""
    if given is not None:
        return given
    configured: int | None = app.settings.workers
    return configured if configured is not None else cpu_count()


@click.command()
@click.argument("target", metavar="MODULE:APP")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: settings.workers if set, else one per CPU core).",
)
@click.option(
    "--timeout-graceful-shutdown",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to let in-flight requests finish after SIGTERM.",
)
@click.option(
    "--drain-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to keep serving after SIGTERM with readiness down, so load balancers "
    "stop sending traffic before the server stops accepting it.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=False,
    show_default=True,
    help="Trust X-Forwarded-* from the proxy in front.",
)
@click.option(
    "--server",
    type=click.Choice(["uvicorn", "granian"]),
    default="uvicorn",
    show_default=True,
    help="uvicorn workers under Bastion's supervisor, or granian (pip install granian).",
)
def serve(
    target: str,
    host: str,
    port: int,
    workers: int | None,
    timeout_graceful_shutdown: float,
    drain_delay: float,
    access_log: bool,
    proxy_headers: bool,
    server: str,
) -> None:
    """Start the production server: N workers, restarted if they die, drained on SIGTERM.

    \b
    Example: BASTION_SECRET_KEY=... bastion serve myapp:app --host 0.0.0.0 -w 4
    """
    from rich.markup import escape

    from bastion.cli.budget import connection_budget
    from bastion.cli.supervisor import Supervisor, WorkerOptions, bind, runtime_folder

    os.environ.setdefault("BASTION_PROFILE", "prod")
    with runtime_folder() as folder:  # before the app is imported (see runtime_folder)
        with Console(stderr=True).status(f"Loading {target}"):
            # An import mistake stops here, readably, not in N workers. Not built: building
            # makes the plugins' per-process state (metrics) in a process that serves nothing.
            app = load_app(target)
        count = worker_count(app, workers)
        warning = connection_budget(app, count)
        if warning:
            Console(stderr=True).print(f"[bold yellow]Warning:[/] {escape(warning)}")
        if server == "granian":
            _granian(target, host, port, count, timeout_graceful_shutdown, access_log)
            return
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise click.ClickException(
                f"Cannot listen on {host}:{port} ({exc.strerror}); choose another --port or "
                "stop what is using it"
            ) from None
        Console(stderr=True).print(
            f"[bold green]Bastion[/] serving {target} on http://{host}:{sock.getsockname()[1]} "
            f"with {count} worker(s) (supervisor pid {os.getpid()})"
        )
        options = WorkerOptions(
            target, sock.fileno(), timeout_graceful_shutdown, drain_delay, access_log, proxy_headers
        )
        code = Supervisor(sock, count, options, folder).run()
    if code:
        sys.exit(code)


def _granian(
    target: str,
    host: str,
    port: int,
    count: int,
    grace: float,
    access_log: bool,
) -> None:
    """Hand over to granian's own process manager (it restarts failed workers too)."""
    try:
        from granian import Granian
        from granian.constants import Interfaces
    except ImportError:
        raise click.ClickException(
            "--server granian needs granian: `pip install 'bastion[granian]'`, or leave out "
            "--server to use uvicorn"
        ) from None
    Console(stderr=True).print(
        f"[bold green]Bastion[/] serving {target} with granian on http://{host}:{port}, "
        f"{count} worker(s)"
    )
    # granian's workers import their app by name: they get it from Bastion's loader.
    os.environ[_target.VARIABLE] = target
    Granian(
        _target.IMPORT_STRING,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=count,
        respawn_failed_workers=True,
        workers_kill_timeout=math.ceil(grace) or None,
        factory=True,
        log_access=access_log,
    ).serve()
