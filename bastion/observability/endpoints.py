"""The routes: ``/health/live``, ``/health/ready``, ``/metrics``, and the authorised
management routes ``/_bastion/info`` and ``/_bastion/loggers``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.exceptions import NotFound, Unauthorized, UnsupportedMediaType
from bastion.http.request import Request
from bastion.http.response import JSONResponse, Response
from bastion.observability import levels
from bastion.observability.health import DOWN, run_checks
from bastion.routing.route import Route
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.observability.plugin import ObservabilityPlugin

_NO_STORE = {"cache-control": "no-store"}


def health_routes(plugin: ObservabilityPlugin, prefix: str) -> Router:
    router = Router(prefix)

    def answer(status: str, detail: dict[str, Any], request: Request, shown: bool) -> Response:
        body: dict[str, Any] = {"status": status, **(detail if shown else {})}
        return JSONResponse(body, 503 if status == DOWN else 200, _NO_STORE)

    @router.get("/live", include_in_schema=False)
    async def live(request: Request) -> Response:
        status, checks = await run_checks(plugin.liveness_checks)
        return answer(status, {"checks": checks}, request, await plugin.access.allows(request))

    @router.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> Response:
        shown = await plugin.access.allows(request)
        if plugin.app.draining:  # shutting down: stop new traffic, finish what is in flight
            return answer(DOWN, {"draining": True, "checks": {}}, request, shown)
        status, checks = await run_checks(plugin.readiness_checks)
        return answer(status, {"draining": False, "checks": checks}, request, shown)

    return router


def metrics_route(plugin: ObservabilityPlugin, path: str) -> Router:
    router = Router()

    @router.get(path, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if plugin.metrics_need_auth and not await plugin.access.allows(request):
            raise Unauthorized("Send Authorization: Bearer <management token>")
        metrics = plugin.metrics
        if metrics is None:  # unreachable: the route exists only with metrics on
            raise NotFound("Metrics are off")
        plugin.sample_pools()
        body, content_type = metrics.render()
        return Response(body, 200, {"content-type": content_type, **_NO_STORE})

    return router


def management_routes(plugin: ObservabilityPlugin, prefix: str) -> Router:
    """Info and log levels: never shown to a caller the plugin does not authorise."""

    async def authorised(request: Request) -> None:
        if not await plugin.access.allows(request):
            raise Unauthorized("Send Authorization: Bearer <management token>")

    from bastion.di.depends import Depends

    router = Router(prefix, dependencies=[Depends(authorised)])

    @router.get("/info", include_in_schema=False)
    async def info() -> dict[str, Any]:
        return plugin.info.describe(plugin.app)

    @router.get("/loggers", include_in_schema=False)
    async def loggers() -> dict[str, Any]:
        return levels.describe_all()

    @router.get("/loggers/{name}", include_in_schema=False)
    async def logger(name: str) -> dict[str, Any]:
        return levels.describe(name)

    @router.post("/loggers/{name}", status_code=200, include_in_schema=False)
    async def set_level(name: str, request: Request) -> dict[str, Any]:
        if request.content_type != "application/json":  # a cross-site form cannot send JSON
            raise UnsupportedMediaType('Send JSON: {"level": "DEBUG"} (or null to reset)')
        data = await request.json()
        level = levels.parse_level(data.get("level") if isinstance(data, dict) else "invalid")
        plugin.shared_levels.set(name, level)
        return levels.describe(name)

    return router


def handlers_of(*routers: Router) -> set[Any]:
    """The handlers above, so that their requests are logged at DEBUG only."""
    return {item.handler for r in routers for item in r.flatten() if isinstance(item, Route)}
