"""Prometheus metrics of jobs, in the registry of the app's ``ObservabilityPlugin``.

Counters by job and queue (enqueued, started, succeeded, failed, retried), the queue depth by
queue and state (sampled by workers), and histograms of the wait (from ``run_at`` to start)
and of the run time. Label children are made once per (job, queue).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from bastion.jobs.record import JobRecord, JobState

WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_EVENTS = ("enqueued", "started", "succeeded", "failed", "retried")


class JobMetrics:
    """The jobs' metric families, registered in ``registry`` (None: the multi-process
    folder, as ``bastion.observability.Metrics`` does)."""

    def __init__(self, registry: Any, namespace: str = "bastion") -> None:
        kw: dict[str, Any] = {"namespace": namespace, "registry": registry}
        labels = ("job", "queue")
        self.counters = {
            event: Counter(f"jobs_{event}", f"Jobs {event}.", labels, **kw) for event in _EVENTS
        }
        self.depth = Gauge(
            "jobs_queue_depth",
            "Jobs stored, by queue and state (sampled by workers).",
            ("queue", "state"),
            multiprocess_mode="mostrecent",
            **kw,
        )
        self.wait = Histogram(
            "jobs_wait_seconds",
            "Time from when a job could start to when it started.",
            labels,
            buckets=WAIT_BUCKETS,
            **kw,
        )
        self.run = Histogram(
            "jobs_run_seconds", "Time one attempt of a job ran.", labels, buckets=RUN_BUCKETS, **kw
        )
        self._children: dict[tuple[str, str, str], Any] = {}

    def _child(self, family: str, record: JobRecord) -> Any:
        key = (family, record.name, record.queue)
        child = self._children.get(key)
        if child is None:
            metric = self.counters.get(family) or getattr(self, family)
            child = self._children[key] = metric.labels(record.name, record.queue)
        return child

    def enqueued(self, record: JobRecord) -> None:
        self._child("enqueued", record).inc()

    def started(self, record: JobRecord, now: float) -> None:
        self._child("started", record).inc()
        self._child("wait", record).observe(max(now - record.run_at, 0.0))

    def finished(self, record: JobRecord, outcome: str, seconds: float) -> None:
        """``outcome`` is succeeded, failed or retried."""
        self._child(outcome, record).inc()
        self._child("run", record).observe(seconds)

    def set_depth(self, counts: dict[tuple[str, JobState], int]) -> None:
        queues = {queue for queue, _ in counts}
        for queue in queues:
            for state in (JobState.PENDING, JobState.RUNNING, JobState.FAILED):
                self.depth.labels(queue, state.value).set(counts.get((queue, state), 0))
