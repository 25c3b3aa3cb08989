"""The jobs battery: durable background jobs and cron schedules (see docs/jobs.md).

from bastion.jobs import Jobs, JobsPlugin

jobs = Jobs()

@jobs.job(queue="mail")
async def send_digest(user_id: int) -> None: ...

app = App(plugins=[JobsPlugin(jobs)])
await send_digest.enqueue(user_id=7)
"""

from bastion.jobs._args import InvalidJobArguments
from bastion.jobs.backend import JobsBackend
from bastion.jobs.job import Job, JobCall, JobOptions
from bastion.jobs.memory import MemoryBackend
from bastion.jobs.plugin import JobsPlugin
from bastion.jobs.record import JobRecord, JobState
from bastion.jobs.registry import Jobs
from bastion.jobs.worker import Worker

__all__ = [
    "InvalidJobArguments",
    "Job",
    "JobCall",
    "JobOptions",
    "JobRecord",
    "JobState",
    "Jobs",
    "JobsBackend",
    "JobsPlugin",
    "MemoryBackend",
    "Worker",
]
