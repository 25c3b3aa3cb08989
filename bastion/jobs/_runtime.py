"""What a bound registry shares with its jobs and worker: the backend, the app's container,
metrics and the log, set up by ``JobsPlugin`` (or ``JobsTester`` in tests)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bastion.jobs.backend import JobsBackend
from bastion.jobs.record import JobRecord

if TYPE_CHECKING:
    from bastion.di.container import Container
    from bastion.jobs._metrics import JobMetrics

logger = logging.getLogger("bastion.jobs")


class Runtime:
    """The backend a registry enqueues to, and where its events are counted and logged."""

    def __init__(self, backend: JobsBackend, container: Container | None = None) -> None:
        self.backend = backend
        self.container = container
        self.metrics: JobMetrics | None = None
        self.tracer: Any = None  # ObservabilityPlugin's, when it traces

    def enqueued(self, records: Sequence[JobRecord]) -> None:
        metrics = self.metrics
        if metrics is not None:
            for record in records:
                metrics.enqueued(record)
        if logger.isEnabledFor(logging.DEBUG):
            for record in records:
                logger.debug(
                    "enqueued %s %s on %s",
                    record.name,
                    record.id,
                    record.queue,
                    extra=log_fields(record),
                )


def log_fields(record: JobRecord, **more: Any) -> dict[str, Any]:
    """The fields every log line about a job carries (JSON logs show them as keys)."""
    return {
        "job_id": record.id,
        "job": record.name,
        "queue": record.queue,
        "attempt": record.attempt,
        **more,
    }


def observability(app: Any) -> Any:
    """The app's ``ObservabilityPlugin`` (looked for only if that battery is loaded)."""
    module = sys.modules.get("bastion.observability.plugin")
    if module is None or app is None:
        return None
    return next((p for p in app.plugins if isinstance(p, module.ObservabilityPlugin)), None)
