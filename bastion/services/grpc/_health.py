"""``grpc.health.v1.Health`` answering what ``/health/ready`` answers: NOT_SERVING while the
app drains (shutdown has begun) or a readiness check of ``ObservabilityPlugin`` fails,
SERVING otherwise. The status is computed when asked, never cached, so a load balancer
probing gRPC and one probing HTTP agree.

``Check`` with a service name the server does not serve is NOT_FOUND; ``Watch`` sends the
status when it changes (polled every ``interval`` seconds; SERVICE_UNKNOWN for such a
name) and ends once the app drains, so watchers never hold up a shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING, Any

import grpc  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.observability.plugin import ObservabilityPlugin

SERVICE_NAME = "grpc.health.v1.Health"
_Status = health_pb2.HealthCheckResponse


class Health(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Readiness as gRPC health; see the module docstring."""

    def __init__(
        self,
        app: App[Any],
        services: Collection[str],
        observability: ObservabilityPlugin | None,
        interval: float,
    ) -> None:
        self.app = app
        self.services = frozenset(services)
        self.observability = observability
        self.interval = interval

    async def status(self) -> Any:
        if self.app.draining:
            return _Status.NOT_SERVING
        if self.observability is not None and self.observability.readiness_checks:
            from bastion.observability.health import UP, run_checks

            overall, _ = await run_checks(self.observability.readiness_checks)
            if overall != UP:
                return _Status.NOT_SERVING
        return _Status.SERVING

    async def Check(self, request: Any, context: Any) -> Any:
        if request.service and request.service not in self.services:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service}")
        return _Status(status=await self.status())

    async def Watch(self, request: Any, context: Any) -> AsyncIterator[Any]:
        unknown = bool(request.service) and request.service not in self.services
        last = None
        while True:
            draining = self.app.draining  # read once: the status sent must say it
            if unknown:
                status = _Status.SERVICE_UNKNOWN
            else:
                status = _Status.NOT_SERVING if draining else await self.status()
            if status != last:
                yield _Status(status=status)
                last = status
            if draining:  # NOT_SERVING was said: end the stream, do not delay shutdown
                return
            await asyncio.sleep(self.interval)
