"""Prometheus metrics: requests by method, route template and status; in-flight requests;
WebSocket connections; the database pool; the process.

Labels are route *templates* (``/items/{item_id}``), never raw paths, so the number of series
stays bounded; requests no route matched share the label ``unmatched``. With several worker
processes (``bastion serve`` sets ``PROMETHEUS_MULTIPROC_DIR``) every worker writes its
values to that folder and a scrape, answered by any worker, adds them all up.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bastion.routing.route import HTTP_METHODS

UNMATCHED = "unmatched"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset(HTTP_METHODS)


def multiprocess_dir() -> str | None:
    """The folder shared by worker processes, when there is one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The app's metric families; created once, when the app starts.

    In one process they live in a registry of their own (two apps, e.g. in tests, never
    collide); across processes they live in ``PROMETHEUS_MULTIPROC_DIR``.
    """

    def __init__(self, namespace: str = "bastion", buckets: Iterable[float] = DEFAULT_BUCKETS):
        self.folder = multiprocess_dir()
        registry: CollectorRegistry | None = None
        if self.folder is None:
            from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

            registry = CollectorRegistry()
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                registry.register(collector)
        self.registry = registry
        labels = ("method", "route", "status")
        kw: dict[str, Any] = {"namespace": namespace, "registry": registry}
        self.requests = Counter("http_requests", "HTTP requests answered.", labels, **kw)
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to its response being ready.",
            labels,
            buckets=tuple(buckets),
            **kw,
        )
        live: dict[str, Any] = {**kw, "multiprocess_mode": "livesum"}
        self.in_progress = Gauge(
            "http_requests_in_progress", "Requests being handled.", ("method", "route"), **live
        )
        self.websockets = Gauge(
            "websocket_connections", "Open WebSocket connections.", ("route",), **live
        )
        self.db_pool = Gauge(
            "db_pool_connections", "Database pool connections by state.", ("state",), **live
        )
        self.workers = Gauge("workers", "Worker processes serving the app.", **live)
        self.workers.set(1)
        self._answered: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @staticmethod
    def method_label(method: str) -> str:
        """Unknown methods share one label, so a scanner cannot grow the series."""
        return method if method in _METHODS else "other"

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request; label children are made once per combination."""
        key = (method, route, status)
        children = self._answered.get(key)
        if children is None:
            values = (self.method_label(method), route, str(status))
            children = (self.requests.labels(*values), self.duration.labels(*values))
            self._answered[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def set_pool(self, status: dict[str, Any]) -> None:
        for state in ("checked_out", "idle"):
            if state in status:
                self.db_pool.labels(state).set(status[state])

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        collect_all_workers: Any = MultiProcessCollector  # untyped in some releases
        collect_all_workers(registry)
        registry.register(WorkerProcesses(Path(str(self.folder))))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class WorkerProcesses(Collector):
    """``process_*`` metrics of every live worker, labelled by ``pid``.

    The live workers are those with a live-gauge file in the shared folder; the supervisor
    deletes a worker's files when it dies (``mark_process_dead``).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def pids(self) -> list[int]:
        found = set()
        for file in self.folder.glob("gauge_live*_*.db"):
            pid = file.stem.rsplit("_", 1)[-1]
            if pid.isdigit():
                found.add(int(pid))
        return sorted(found)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client import ProcessCollector

        merged: dict[str, Metric] = {}
        for pid in self.pids():
            collector = ProcessCollector(pid=lambda pid=pid: pid, registry=None)  # type: ignore[misc]
            for family in collector.collect():
                into = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    into.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from merged.values()
