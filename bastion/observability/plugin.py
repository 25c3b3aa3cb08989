"""``ObservabilityPlugin``: health, metrics, structured logs, tracing and info for one app.

``App(plugins=[SQLAlchemyPlugin(), ObservabilityPlugin(token=...)])`` is all it takes; each
part can be turned off. Apps without the plugin run none of its code per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bastion._tasks import cancel_and_wait
from bastion.exceptions import ConfigurationError
from bastion.middleware.request_id import RequestId
from bastion.observability._instrument import Instrumentation
from bastion.observability.access import Access, Authorize
from bastion.observability.endpoints import (
    handlers_of,
    health_routes,
    management_routes,
    metrics_route,
)
from bastion.observability.health import HealthCheck, database_check, pool_status
from bastion.observability.info import Info
from bastion.observability.levels import SharedLevels
from bastion.observability.logs import LogFormat, configure_logging
from bastion.observability.metrics import DEFAULT_BUCKETS, Metrics
from bastion.observability.tracing import Tracing

if TYPE_CHECKING:
    from bastion.app import App


class ObservabilityPlugin:
    """Health probes, Prometheus metrics, access logs, tracing, ``/info`` and log levels.

    ``token`` (else ``BASTION_MANAGEMENT_TOKEN``) or ``authorize(request) -> bool`` decide
    who sees health detail, ``/_bastion/info`` and ``/_bastion/loggers``; with neither, only
    the ``dev`` profile does. ``checks`` are readiness checks (a database check is added for
    each ``SQLAlchemyPlugin`` of the app). Set a path to ``None`` to drop its endpoints.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        authorize: Authorize | None = None,
        checks: Sequence[HealthCheck] = (),
        health_path: str | None = "/health",
        metrics_path: str | None = "/metrics",
        metrics_need_auth: bool = False,
        management_path: str | None = "/_bastion",
        logs: LogFormat | None = "auto",
        access_log: bool = True,
        request_id: bool = True,
        tracing: bool = False,
        tracer_provider: Any = None,
        buckets: Iterable[float] = DEFAULT_BUCKETS,
        info: dict[str, Any] | None = None,
    ) -> None:
        for check in checks:
            if not isinstance(check, HealthCheck):
                raise ConfigurationError(
                    f"ObservabilityPlugin(checks=...): {check!r} is not a HealthCheck; wrap "
                    "your function: HealthCheck('name', probe, timeout=2.0)"
                )
        self.token = token
        self.authorize = authorize
        self.liveness_checks = [c for c in checks if c.liveness]
        self.readiness_checks = self._given = [c for c in checks if not c.liveness]
        self.paths = (health_path, metrics_path, management_path)
        self.metrics_need_auth = metrics_need_auth
        self.logs = logs
        self.access_log = access_log
        self.request_id = request_id
        # Fail at construction, not at the first request, when OpenTelemetry is missing.
        self.tracing = Tracing(tracer_provider) if tracing else None
        self.buckets = tuple(buckets)
        self.info = Info(info)
        self.shared_levels = SharedLevels()
        self._metrics: Metrics | None = None
        self.databases: list[Any] = []

    def on_app_init(self, app: App[Any]) -> None:
        self.app = app
        token = self.token or os.environ.get("BASTION_MANAGEMENT_TOKEN") or None
        self.access = Access(token, self.authorize, open_by_default=app.settings.profile == "dev")
        self.databases = _database_plugins(app)
        later = app.plugins[app.plugins.index(self) :] if self in app.plugins else []
        if self.tracing is not None and any(db in later for db in self.databases):
            raise ConfigurationError(
                "ObservabilityPlugin(tracing=True) instruments the database engine when the "
                "app starts, so it must come after SQLAlchemyPlugin: write "
                "App(plugins=[SQLAlchemyPlugin(...), ObservabilityPlugin(...)])"
            )
        self.readiness_checks = [*self._given, *map(database_check, self.databases)]
        health_path, metrics_path, management_path = self.paths
        instruments = Instrumentation(lambda: self.metrics, self.tracing, self.access_log)
        routers = []
        if health_path is not None:
            routers.append(health_routes(self, health_path))
        if metrics_path is not None:
            routers.append(metrics_route(self, metrics_path))
        if management_path is not None:
            routers.append(management_routes(self, management_path))
        for router in routers:
            app.include(router)
        instruments.quiet = handlers_of(*routers)
        # Outermost, so that the time, status and log line cover every other middleware.
        app.middleware.insert(0, instruments.observe)
        if self.request_id and not any(isinstance(m, RequestId) for m in app.middleware):
            app.middleware.insert(1, RequestId())
        app.endpoint_wrappers.append(instruments.wrap)
        app.lifespan_contexts.append(self._lifespan)

    @property
    def metrics(self) -> Metrics | None:
        """Made on first use, so in the process that serves: a server that forks workers
        from a parent that imported the app gets metrics per worker, none in the parent."""
        if self._metrics is None and self.paths[1] is not None:
            self._metrics = Metrics(buckets=self.buckets)
        return self._metrics

    def configure_logging(self) -> None:
        """Install the log format chosen by ``logs`` (``bastion serve`` calls it early)."""
        if self.logs is not None:
            settings = self.app.settings
            configure_logging(self.logs, settings.log_level, profile=settings.profile)

    def sample_pools(self) -> None:
        """Copy the database pools' counts into the gauges."""
        if self.metrics is None:
            return
        for db in self.databases:
            if db.engine is not None:
                self.metrics.set_pool(pool_status(db.engine))

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        self.configure_logging()
        if self.tracing is not None:
            for db in self.databases:
                self.tracing.instrument(db.engine)  # started: its plugin's lifespan came first
        task = asyncio.create_task(self._housekeeping())
        try:
            yield
        finally:
            await cancel_and_wait([task])

    async def _housekeeping(self, interval: float = 1.0) -> None:
        """Every second: log levels set in another worker; every 5 s: pool gauges."""
        ticks = 0
        while True:
            self.shared_levels.sync()
            if ticks % 5 == 0:
                self.sample_pools()
            ticks += 1
            await asyncio.sleep(interval)


def _database_plugins(app: App[Any]) -> list[Any]:
    """The app's ``SQLAlchemyPlugin``s (looked for only if the database battery is loaded)."""
    module = sys.modules.get("bastion.db.plugin")
    if module is None:
        return []
    return [p for p in app.plugins if isinstance(p, module.SQLAlchemyPlugin)]
