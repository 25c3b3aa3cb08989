"""``bastion worker`` and ``bastion jobs list|retry|cancel|purge``, added by ``JobsPlugin``.

bastion --app shop:app worker --queues mail,default --concurrency 20
bastion --app shop:app jobs list --state failed
bastion --app shop:app jobs retry 3f2a...
bastion --app shop:app jobs cancel 3f2a...
bastion --app shop:app jobs purge --older-than 7d
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from bastion.jobs.record import FINISHED, JobRecord, JobState

if TYPE_CHECKING:
    from bastion.jobs.plugin import JobsPlugin

T = TypeVar("T")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_STATES = [state.value for state in JobState]


def duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d``, ``2w`` → seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not a duration: write e.g. 90s, 15m, 12h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _run(plugin: JobsPlugin, work: Callable[[], Awaitable[T]]) -> T:
    """Start the app (so the backend is connected), run ``work``, stop the app."""
    app = plugin.app
    assert app is not None

    async def main() -> T:
        from bastion.cli.loading import running

        async with running(app):
            return await work()

    return asyncio.run(main())


def worker_command(plugin: JobsPlugin) -> click.Command:
    @click.command("worker")
    @click.option(
        "--queues",
        "-q",
        default=None,
        help="Comma-separated queues to take jobs from (default: every queue the jobs name).",
    )
    @click.option(
        "--concurrency", "-c", type=click.IntRange(min=1), default=None, help="Jobs run at once."
    )
    @click.option(
        "--grace",
        type=click.FloatRange(min=0),
        default=None,
        help="Seconds running jobs get to finish after SIGTERM before they are handed back.",
    )
    @click.option(
        "--lease",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Seconds a claimed job stays this worker's without renewal (renewed every third).",
    )
    @click.option(
        "--poll",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Longest wait, in seconds, for new jobs when the backend sends no wake-up.",
    )
    @click.option(
        "--rescue-every",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Seconds between looks for jobs whose worker died (their lease ran out).",
    )
    @click.option(
        "--retry-backoff",
        type=click.FloatRange(min=0),
        default=None,
        help="Seconds before the first retry; doubles with each attempt.",
    )
    @click.option(
        "--max-backoff",
        type=click.FloatRange(min=0),
        default=None,
        help="Longest wait, in seconds, before a retry.",
    )
    @click.option("--no-cron", is_flag=True, help="Do not run the cron scheduler here.")
    @click.option(
        "--no-messages",
        is_flag=True,
        help="Do not run the message handlers here (MessagingPlugin's; run by default).",
    )
    def worker(
        queues: str | None,
        concurrency: int | None,
        grace: float | None,
        lease: float | None,
        poll: float | None,
        rescue_every: float | None,
        retry_backoff: float | None,
        max_backoff: float | None,
        no_cron: bool,
        no_messages: bool,
    ) -> None:
        """Run jobs (and message handlers) until SIGTERM or Ctrl-C, then finish or hand back.

        \b
        Example: bastion --app shop:app worker --queues mail,default --concurrency 20
        """
        app = plugin.app
        assert app is not None
        _configure_logging(app)
        plugin.run_worker = False  # this command is the worker
        _consume_messages(app, not no_messages)
        chosen = [q.strip() for q in queues.split(",") if q.strip()] if queues else None

        async def main() -> None:
            from bastion.cli.loading import running

            async with running(app):
                worker = plugin.make_worker(
                    queues=chosen,
                    concurrency=concurrency,
                    grace=grace,
                    lease=lease,
                    poll=poll,
                    rescue_every=rescue_every,
                    retry_backoff=retry_backoff,
                    max_backoff=max_backoff,
                    cron=False if no_cron else None,
                )
                loop = asyncio.get_running_loop()
                interrupted = 0

                def on_signal() -> None:
                    nonlocal interrupted
                    interrupted += 1
                    if interrupted > 1:  # a second Ctrl-C: no grace
                        worker.grace = 0
                    worker.stop()

                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, on_signal)
                try:
                    await worker.run()
                finally:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        loop.remove_signal_handler(sig)

        asyncio.run(main())

    return worker


def _consume_messages(app: Any, on: bool) -> None:
    """The worker runs the app's message handlers too (``MessagingPlugin`` starts them in
    the app's lifespan when asked), so one command runs all of an app's background work."""
    module = sys.modules.get("bastion.services.messaging.plugin")
    if module is None:
        return
    for plugin in app.plugins:
        if isinstance(plugin, module.MessagingPlugin):
            plugin.consume = on


def _configure_logging(app: Any) -> None:
    from bastion.cli._logging import observability

    obs = observability(app)
    if obs is not None:
        obs.configure_logging()
    elif not logging.getLogger().handlers:
        logging.basicConfig(
            level=app.settings.log_level.upper().replace("TRACE", "DEBUG"),
            format="%(asctime)s %(levelname)-7s %(name)s  %(message)s",
        )


def jobs_commands(plugin: JobsPlugin) -> click.Group:
    @click.group("jobs")
    def jobs() -> None:
        """Inspect and manage stored jobs: list, retry, cancel, purge."""

    @jobs.command("list")
    @click.option("--state", "-s", type=click.Choice(_STATES), default=None)
    @click.option("--queue", "-q", default=None)
    @click.option("--name", "-n", "name", default=None, help="The job's registered name.")
    @click.option("--limit", "-l", type=click.IntRange(min=1, max=10_000), default=50)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
    def list_jobs(
        state: str | None, queue: str | None, name: str | None, limit: int, as_json: bool
    ) -> None:
        """The newest jobs, with queue depth by state.

        \b
        Example: bastion --app shop:app jobs list --state failed
        """
        assert plugin.backend is not None
        backend = plugin.backend

        async def work() -> tuple[list[JobRecord], dict[tuple[str, JobState], int]]:
            found = await backend.list(
                state=JobState(state) if state else None, queue=queue, name=name, limit=limit
            )
            return found, await backend.counts()

        records, counts = _run(plugin, work)
        if as_json:
            import msgspec

            for record in records:
                click.echo(msgspec.json.encode(_row(record)).decode())
            return
        _print(_depth_table(counts), _jobs_table(records))

    @jobs.command("retry")
    @click.argument("job_ids", nargs=-1, required=True)
    def retry(job_ids: tuple[str, ...]) -> None:
        """Run failed or cancelled jobs again (their attempts start over)."""
        assert plugin.backend is not None
        backend = plugin.backend

        async def work() -> list[bool]:
            return [await backend.requeue(job_id) for job_id in job_ids]

        _report(job_ids, _run(plugin, work), "queued again", "not failed or cancelled, or unknown")

    @jobs.command("cancel")
    @click.argument("job_ids", nargs=-1, required=True)
    def cancel(job_ids: tuple[str, ...]) -> None:
        """Cancel pending jobs, and ask the workers of running ones to stop them."""
        assert plugin.backend is not None
        backend = plugin.backend

        async def work() -> list[bool]:
            return [await backend.cancel(job_id) for job_id in job_ids]

        _report(job_ids, _run(plugin, work), "cancelled", "already finished, or unknown")

    @jobs.command("purge")
    @click.option(
        "--older-than",
        default="7d",
        show_default=True,
        help="Finished this long ago or more (90s, 15m, 12h, 7d, 2w).",
    )
    @click.option(
        "--state",
        "-s",
        "states",
        multiple=True,
        type=click.Choice([s.value for s in FINISHED]),
        help="States to delete (repeatable; default: succeeded and cancelled).",
    )
    def purge(older_than: str, states: tuple[str, ...]) -> None:
        """Delete finished jobs; failed ones are kept unless named with --state failed.

        \b
        Example: bastion --app shop:app jobs purge --older-than 30d --state failed
        """
        assert plugin.backend is not None
        backend = plugin.backend
        chosen = [JobState(s) for s in states] or [JobState.SUCCEEDED, JobState.CANCELLED]
        before = time.time() - duration(older_than)

        async def work() -> int:
            return await backend.purge(states=chosen, older_than=before)

        deleted = _run(plugin, work)
        names = ", ".join(s.value for s in chosen)
        click.echo(f"Deleted {deleted} job(s) ({names}) finished before {_when(before)}.")

    return jobs


def _print(*tables: Table) -> None:
    """Fit a terminal; a pipe or file gets whole rows (ids are copied from here)."""
    console = Console()
    if not console.is_terminal:
        natural = max(Console(width=100_000).measure(t).maximum for t in tables)
        console = Console(width=max(console.width, natural))
    for table in tables:
        console.print(table)


def _report(ids: tuple[str, ...], results: list[bool], done: str, refused: str) -> None:
    failed = False
    for job_id, ok in zip(ids, results, strict=True):
        if ok:
            click.echo(f"{job_id}: {done}")
        else:
            failed = True
            click.echo(f"{job_id}: {refused}", err=True)
    if failed:
        raise SystemExit(1)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(record: JobRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "queue": record.queue,
        "state": record.state.value,
        "attempt": record.attempt,
        "max_attempts": record.max_attempts,
        "priority": record.priority,
        "run_at": record.run_at,
        "enqueued_at": record.enqueued_at,
        "finished_at": record.finished_at,
        "worker": record.worker,
        "tags": list(record.tags),
        "last_error": record.errors[-1] if record.errors else None,
    }


def _depth_table(counts: dict[tuple[str, JobState], int]) -> Table:
    table = Table(title="Queues")
    table.add_column("queue")
    for state in JobState:
        table.add_column(state.value, justify="right")
    for queue in sorted({q for q, _ in counts}):
        table.add_row(queue, *(str(counts.get((queue, state), 0)) for state in JobState))
    return table


def _jobs_table(records: list[JobRecord]) -> Table:
    table = Table(title=f"Jobs (newest first, {len(records)} shown)")
    for column in ("id", "job", "queue", "state", "attempt", "run at (UTC)", "last error"):
        table.add_column(column, overflow="fold")
    colours = {"failed": "red", "succeeded": "green", "running": "cyan", "cancelled": "yellow"}
    for record in records:
        state = record.state.value
        table.add_row(
            record.id,
            record.name,
            record.queue,
            f"[{colours.get(state, 'default')}]{state}[/]",
            f"{record.attempt}/{record.max_attempts}",
            _when(record.run_at),
            (record.errors[-1] if record.errors else "")[:200],
        )
    return table
