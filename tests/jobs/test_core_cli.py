"""``bastion jobs list|retry|cancel|purge`` and ``bastion worker``, from JobsPlugin."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import click
from click.testing import CliRunner

from bastion import App
from bastion.jobs import Jobs, JobsPlugin, JobState, MemoryBackend
from bastion.jobs.cli import duration


def commands(app: App) -> dict[str, click.Command]:
    return {c.name: c for c in app.cli_commands if c.name}


def setup() -> tuple[App, MemoryBackend, dict[str, str]]:
    jobs = Jobs()

    @jobs.job(queue="mail")
    async def send(to: str) -> None:
        pass

    backend = MemoryBackend()
    app = App(plugins=[JobsPlugin(jobs, backend=backend)])

    async def fill() -> dict[str, str]:
        done = await send.enqueue(to="c@example.com")
        assert [r.id for r in await backend.claim(["mail"], 1, worker="w", lease=30)] == [done]
        await backend.succeed(done, worker="w")
        failed = await send.using(max_attempts=1).enqueue(to="b@example.com")
        assert [r.id for r in await backend.claim(["mail"], 1, worker="w", lease=30)] == [failed]
        await backend.fail(failed, worker="w", error="SMTPError: 550 no such user")
        pending = await send.enqueue(to="a@example.com")
        return {"done": done, "failed": failed, "pending": pending}

    return app, backend, asyncio.run(fill())


def test_plugin_adds_worker_and_jobs_commands() -> None:
    app = App(plugins=[JobsPlugin(Jobs())])
    assert {"worker", "jobs"} <= set(commands(app))


def test_jobs_list_shows_depth_and_the_newest_jobs() -> None:
    app, _, ids = setup()
    result = CliRunner().invoke(commands(app)["jobs"], ["list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Queues" in result.output and "mail" in result.output
    assert ids["failed"] in result.output
    assert "SMTPError: 550 no such user" in result.output


def test_jobs_list_filters_and_prints_json_lines() -> None:
    app, _, ids = setup()
    result = CliRunner().invoke(commands(app)["jobs"], ["list", "--state", "failed", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [row["id"] for row in rows] == [ids["failed"]]
    assert rows[0]["last_error"] == "SMTPError: 550 no such user"


def test_jobs_retry_requeues_a_failed_job_and_refuses_others() -> None:
    app, backend, ids = setup()
    runner = CliRunner()
    result = runner.invoke(commands(app)["jobs"], ["retry", ids["failed"]])
    assert result.exit_code == 0 and "queued again" in result.output
    record = asyncio.run(backend.get(ids["failed"]))
    assert record is not None and record.state is JobState.PENDING
    refused = runner.invoke(commands(app)["jobs"], ["retry", ids["pending"]])
    assert refused.exit_code == 1
    assert "not failed or cancelled" in refused.output


def test_jobs_cancel_cancels_a_pending_job() -> None:
    app, backend, ids = setup()
    result = CliRunner().invoke(commands(app)["jobs"], ["cancel", ids["pending"], "nope"])
    assert result.exit_code == 1
    assert f"{ids['pending']}: cancelled" in result.output
    assert "nope: already finished, or unknown" in result.output
    record = asyncio.run(backend.get(ids["pending"]))
    assert record is not None and record.state is JobState.CANCELLED


def test_jobs_purge_deletes_finished_jobs_older_than_given() -> None:
    app, backend, ids = setup()
    runner = CliRunner()
    kept = runner.invoke(commands(app)["jobs"], ["purge", "--older-than", "1h"])
    assert kept.exit_code == 0 and "Deleted 0 job(s)" in kept.output
    result = runner.invoke(
        commands(app)["jobs"], ["purge", "--older-than", "0s", "--state", "failed"]
    )
    assert result.exit_code == 0 and "Deleted 1 job(s) (failed)" in result.output
    assert asyncio.run(backend.get(ids["failed"])) is None


def test_durations_read_as_people_write_them() -> None:
    assert [duration(t) for t in ("90", "90s", "15m", "12h", "7d", "2w")] == [
        90,
        90,
        900,
        43200,
        604800,
        1209600,
    ]
    bad = CliRunner().invoke(
        commands(App(plugins=[JobsPlugin(Jobs())]))["jobs"], ["purge", "--older-than", "soon"]
    )
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_bastion_worker_runs_jobs_and_drains_on_sigterm(tmp_path: Path) -> None:
    """A real process: ``bastion --app ... worker`` runs jobs, and SIGTERM lets the running
    one finish before it exits."""
    (tmp_path / "workapp.py").write_text(
        textwrap.dedent(
            """
            import asyncio, pathlib
            from bastion import App
            from bastion.jobs import Jobs, JobsPlugin

            jobs = Jobs()
            out = pathlib.Path(__file__).with_name("out.txt")

            @jobs.job
            async def slow(n: int) -> None:
                out.write_text(out.read_text() + f"start {n}\\n" if out.exists() else f"start {n}\\n")
                await asyncio.sleep(0.5)
                out.write_text(out.read_text() + f"end {n}\\n")

            async def fill() -> None:
                await slow.enqueue(n=1)

            app = App(plugins=[JobsPlugin(jobs, backend="memory", poll=0.05)], on_startup=[fill])
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", "--app", "workapp:app", "worker"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = tmp_path / "out.txt"
    try:
        deadline = time.monotonic() + 20
        while not (out.exists() and "start 1" in out.read_text()):
            assert time.monotonic() < deadline, process.stdout.read().decode()  # type: ignore[union-attr]
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert out.read_text() == "start 1\nend 1\n"
    assert "stopped" in output
