"""The jobs battery: durable background jobs and cron schedules (see docs/jobs.md)."""

from bastion.jobs.backend import JobsBackend
from bastion.jobs.record import JobRecord, JobState

__all__ = ["JobRecord", "JobState", "JobsBackend"]
