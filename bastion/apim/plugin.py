"""``APIManagement``: quotas, usage recording, key self-service and the developer portal.

keys = APIKeyAuth(database)
app = App(plugins=[database, AuthPlugin(SessionAuth(), keys),
                   APIManagement(keys, store="redis://localhost:6379/0")])

@app.get("/reports", middleware=[Metered("1000/day")])
async def reports(user: CurrentUser) -> list[Report]: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import jinja2

from bastion._tasks import cancel_and_wait
from bastion.apim.metering import Metered
from bastion.apim.store import MeterStore, store_from
from bastion.apim.usage import UsageRecorder
from bastion.auth.apikeys import APIKeyAuth
from bastion.auth.plugin import AuthPlugin
from bastion.exceptions import ConfigurationError
from bastion.routing.route import Route
from bastion.templates import Templates

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.routing._endpoint import CompiledRoute
    from bastion.types import Endpoint

logger = logging.getLogger("bastion.apim")


class APIManagement:
    """``keys``: the app's ``APIKeyAuth`` (also given to ``AuthPlugin``). ``store``:
    ``"memory"`` (one process), a ``redis://`` URL, or a ``MeterStore``. ``flush_interval``:
    seconds between usage flushes. ``prefix``: where the portal and the developer API live
    (``None``: no routes, only metering). ``scopes``: the scopes users may give their keys,
    with a description each (empty: any). ``docs_url``: the API reference the portal links."""

    def __init__(
        self,
        keys: APIKeyAuth,
        *,
        store: str | MeterStore = "memory",
        flush_interval: float = 5.0,
        prefix: str | None = "/developer",
        scopes: Mapping[str, str] | None = None,
        docs_url: str | None = "/docs",
    ) -> None:
        if not isinstance(keys, APIKeyAuth):
            raise ConfigurationError(
                f"APIManagement({keys!r}): give the app's APIKeyAuth, e.g. "
                "APIManagement(APIKeyAuth(database))"
            )
        if (
            isinstance(flush_interval, bool)
            or not isinstance(flush_interval, int | float)
            or flush_interval <= 0
        ):
            raise ConfigurationError(
                f"APIManagement(flush_interval={flush_interval!r}): give seconds > 0"
            )
        self.keys = keys
        self.store = store_from(store)
        self.recorder = UsageRecorder(self.store, interval=float(flush_interval))
        self.prefix = prefix
        self.scopes = dict(scopes or {})
        self.docs_url = docs_url
        loader = jinja2.PackageLoader("bastion.apim", "templates")
        self.templates = Templates(env=jinja2.Environment(loader=loader, autoescape=True))

    def on_app_init(self, app: App[Any]) -> None:
        auth = next((p for p in app.plugins if isinstance(p, AuthPlugin)), None)
        if auth is None or self.keys not in auth.backends:
            raise ConfigurationError(
                "APIManagement(keys) needs those keys in the app's AuthPlugin: "
                "App(plugins=[database, AuthPlugin(SessionAuth(), keys), APIManagement(keys)])"
            )
        app.endpoint_wrappers.append(self._wrap(app))
        app.lifespan_contexts.append(self._lifespan)
        if self.prefix is not None:
            from bastion.apim.routes import developer_router

            self.templates.check("apim/portal.html", "apim/usage.html")
            app.include(
                developer_router(
                    self.keys,
                    self.store,
                    self.templates,
                    prefix=self.prefix,
                    scopes=self.scopes,
                    docs_url=self.docs_url,
                )
            )

    def _wrap(self, app: App[Any]) -> Any:
        def wrap(compiled: CompiledRoute) -> Endpoint:
            if any(isinstance(m, Metered) for m in app.middleware):
                # App middleware runs before routing, where no route template is known to
                # count under; it used to fail every request with a misleading sentence.
                raise ConfigurationError(
                    "Metered is in App(middleware=...): put it on the routes or routers to "
                    "meter, @app.get(..., middleware=[Metered(...)]) or "
                    "Router(..., middleware=[Metered(...)])"
                )
            route = compiled.route
            policies = [m for m in route.options.get("middleware", ()) if isinstance(m, Metered)]
            if not policies or not isinstance(route, Route):
                return compiled.endpoint
            if len(policies) > 1:
                raise ConfigurationError(
                    f"route {route.path}: {len(policies)} Metered policies apply (router and "
                    "route); give the route one Metered with every quota"
                )
            policy = policies[0]
            policy._apps.add(id(app))
            label = "|".join(m for m in route.methods if m != "HEAD") + " " + route.path
            return policy.wrap(compiled.endpoint, label, self.store, self.recorder)

        return wrap

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        flusher = asyncio.create_task(self.recorder.run())
        try:
            yield
        finally:
            await cancel_and_wait([flusher])
            try:
                await self.recorder.flush()
            except Exception as exc:
                logger.error("usage lost at shutdown: the store refused the last flush: %s", exc)
            await self.store.close()
