"""A flat description of an app's routes, for ``bastion routes`` and for people."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.routing.route import Route, WebSocketRoute

if TYPE_CHECKING:
    from bastion.app import App


@dataclass
class RouteInfo:
    methods: list[str]
    path: str
    name: str
    handler: str
    params: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def route_table(app: App[Any]) -> list[RouteInfo]:
    """Every route, WebSocket route and mount, in declaration order."""
    app._ensure_built()
    rows: list[RouteInfo] = []
    for compiled in app.compiled:
        route = compiled.route
        handler = route.handler
        where = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"
        params = [
            f"{'dep' if p.location == 'dependency' else p.location}:{p.name}"
            for p in compiled.plan.params
            if p.location != "request"
        ]
        methods = list(route.methods) if isinstance(route, Route) else ["WS"]
        if isinstance(route, WebSocketRoute | Route):
            rows.append(
                RouteInfo(
                    methods,
                    route.path,
                    route.name,
                    where,
                    params,
                    list(route.options.get("tags", ())),
                )
            )
    for prefix, mounted in app._mounts:
        rows.append(RouteInfo(["*"], prefix + "/…", "", type(mounted).__name__))
    return rows
