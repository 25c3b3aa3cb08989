"""``bastion serve``: the production server, N workers on granian or under a uvicorn supervisor."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bastion.cli import _logging
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
    type=click.Choice(["auto", "granian", "uvicorn"]),
    default="auto",
    show_default=True,
    envvar="BASTION_SERVER",
    help="granian, or uvicorn workers under Bastion's supervisor; auto picks the faster one "
    "for this platform (granian on Linux when installed, else uvicorn).",
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
        _refuse_development_settings(app)
        count = worker_count(app, workers)
        warning = connection_budget(app, count)
        if warning:
            Console(stderr=True).print(f"[bold yellow]Warning:[/] {escape(warning)}")
        server, reason = choose_server(server)
        try:  # a taken port is a sentence here, whichever server runs
            sock = bind(host, port) if server == "uvicorn" else None
            port = sock.getsockname()[1] if sock else _bindable(host, port)  # --port 0: chosen
        except OSError as exc:
            raise click.ClickException(
                f"Cannot listen on {host}:{port} ({exc.strerror}); choose another --port or "
                "stop what is using it"
            ) from None
        if sock is None:
            from bastion.cli import _granian

            own_logs = _logging.owns_logs(app)
            if own_logs:
                _logging.configure(app)  # granian's manager logs too, in the app's format
            Console(stderr=True).print(
                f"[bold green]Bastion[/] serving {target} on http://{host}:{port} with granian "
                f"({reason}), {count} worker(s) (manager pid {os.getpid()})",
                soft_wrap=True,
            )
            code = _granian.serve(
                target,
                host,
                port,
                count,
                folder,
                grace=timeout_graceful_shutdown,
                drain_delay=drain_delay,
                # One access line per request: none from granian when the app writes its own.
                access_log=_logging.uvicorn_options(app, access_log)["access_log"],
                proxy_headers=proxy_headers,
                own_logs=own_logs,
            )
        else:
            assert sock is not None
            Console(stderr=True).print(
                f"[bold green]Bastion[/] serving {target} on http://{host}:{port} with uvicorn "
                f"({reason}), {count} worker(s) (supervisor pid {os.getpid()})",
                soft_wrap=True,
            )
            options = WorkerOptions(
                target,
                sock.fileno(),
                timeout_graceful_shutdown,
                drain_delay,
                access_log,
                proxy_headers,
            )
            code = Supervisor(sock, count, options, folder).run()
    if code:
        sys.exit(code)


def _bindable(host: str, port: int) -> int:
    """Check that ``host:port`` can be bound, and return the port (the kernel's choice for
    0), without listening: granian's workers bind the address themselves, and a listening
    probe would accept connections that nobody serves until they do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return int(probe.getsockname()[1])


def _refuse_development_settings(app: Any) -> None:
    """``bastion serve`` sets ``BASTION_PROFILE=prod``, but settings built with
    ``Settings(...)`` read no environment: such an app would serve the dev profile's debug
    pages (tracebacks, locals) to every client. Asked for on purpose, it is allowed."""
    if app.settings.profile == "dev" and os.environ.get("BASTION_PROFILE") != "dev":
        raise click.ClickException(
            "The app's settings use the dev profile, which shows tracebacks to clients: build "
            "them with Settings.load(...) (or leave App(settings=...) out) so that "
            "BASTION_PROFILE=prod applies, or set BASTION_PROFILE=dev to serve dev on purpose"
        )


def choose_server(requested: str) -> tuple[str, str]:
    """The server to run and why, for ``--server auto|granian|uvicorn``.

    Granian serves more requests per second than uvicorn for every framework measured on
    Linux (docs/benchmarks.md has both tables); elsewhere it is unmeasured, so uvicorn."""
    if requested != "auto":
        return requested, "--server " + requested
    if sys.platform != "linux":
        return "uvicorn", "granian is measured faster on Linux only; --server granian to try it"
    if importlib.util.find_spec("granian") is None:
        return "uvicorn", "granian is not installed: pip install 'bastion[granian]'"
    return "granian", "the faster server on Linux; --server uvicorn for uvicorn"
