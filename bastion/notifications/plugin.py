"""``NotificationsPlugin``: notifications for one app, over the batteries it already has.

    App(plugins=[SQLAlchemyPlugin(), PubSubPlugin(), MailPlugin(), JobsPlugin(jobs),
                 AuthPlugin(...), NotificationsPlugin(routes="/notifications")])

Each channel uses the battery that carries it, found when the app is built: ``database``
the app's ``SQLAlchemyPlugin`` (its table is a migration ``bastion db upgrade`` applies),
``broadcast`` the ``PubSubPlugin``, ``mail`` the ``MailPlugin``'s mailer, ``webhook`` jobs
(the plugin registers ``bastion.notifications.webhook`` on the app's ``Jobs``). A channel
whose battery is missing is an error naming it when a notification chooses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import weakref
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bastion.exceptions import ConfigurationError
from bastion.middleware.base import ASGIMiddleware
from bastion.notifications import notifier as _notifier
from bastion.notifications.database import Inbox
from bastion.notifications.notification import Notification
from bastion.notifications.notifier import Notifier
from bastion.notifications.webhooks import check_answer, delivery_headers

if TYPE_CHECKING:
    import httpx

    from bastion.app import App
    from bastion.jobs.job import Job
    from bastion.jobs.registry import Jobs
    from bastion.types import Receive, Scope, Send

#: The name the webhook delivery job is stored under: keep it stable.
WEBHOOK_JOB = "bastion.notifications.webhook"
logger = logging.getLogger("bastion.notifications")


class NotificationsPlugin:
    """``routes``: a path prefix to serve the current user's notifications at (JSON routes,
    and an SSE stream with ``PubSubPlugin``), or None for none. ``topic``: the pub/sub topic
    of a user's broadcasts. ``webhook_queue``, ``webhook_attempts`` and ``webhook_timeout``
    (seconds per attempt) are the webhook job's."""

    def __init__(
        self,
        *,
        routes: str | None = None,
        topic: str = "user:{id}",
        webhook_queue: str = "webhooks",
        webhook_attempts: int = 8,
        webhook_timeout: float = 10.0,
    ) -> None:
        if routes is not None and (not isinstance(routes, str) or not routes.startswith("/")):
            raise ConfigurationError(
                f"NotificationsPlugin(routes={routes!r}): give a path prefix such as "
                "'/notifications', or None for no routes"
            )
        if not isinstance(webhook_queue, str) or not webhook_queue:
            raise ConfigurationError(
                f"NotificationsPlugin(webhook_queue={webhook_queue!r}): name a queue"
            )
        if (
            not isinstance(webhook_attempts, int)
            or isinstance(webhook_attempts, bool)
            or webhook_attempts < 1
        ):
            raise ConfigurationError(
                f"NotificationsPlugin(webhook_attempts={webhook_attempts!r}): give a whole "
                "number, at least 1"
            )
        if not isinstance(webhook_timeout, int | float) or webhook_timeout <= 0:
            raise ConfigurationError(
                f"NotificationsPlugin(webhook_timeout={webhook_timeout!r}): give seconds > 0"
            )
        self.routes = routes.rstrip("/") if routes else None
        self.webhook_queue = webhook_queue
        self.webhook_attempts = webhook_attempts
        self.webhook_timeout = float(webhook_timeout)
        self.notifier = Notifier(topic)
        self._client: httpx.AsyncClient | None = None

    @property
    def inbox(self) -> Inbox:
        """The stored notifications (the ``database`` channel), for code outside requests."""
        if self.notifier.inbox is None:
            raise ConfigurationError(
                "NotificationsPlugin.inbox keeps notifications in the app's database: add "
                "SQLAlchemyPlugin(...) to App(plugins=[...])"
            )
        return self.notifier.inbox

    async def notify(self, notifiables: Any, notification: Notification) -> list[str]:
        """``notify()`` through this app's channels (for code that holds the plugin)."""
        return await self.notifier.send(notifiables, notification)

    def on_app_init(self, app: App[Any]) -> None:
        if any(isinstance(p, NotificationsPlugin) and p is not self for p in app.plugins):
            raise ConfigurationError(
                "App(plugins=[...]) has two NotificationsPlugin instances; keep one"
            )
        notifier = self.notifier
        database = _plugin(app, "bastion.db.plugin", "SQLAlchemyPlugin")
        if database is not None:
            notifier.inbox = Inbox(database)
            inbox = notifier.inbox

            async def provide_inbox() -> Inbox:
                return inbox

            app.provide(Inbox, provide_inbox)
        pubsub = _plugin(app, "bastion.websockets.pubsub.plugin", "PubSubPlugin")
        notifier.pubsub = pubsub.pubsub if pubsub is not None else None
        notifier.mail = _plugin(app, "bastion.mail.plugin", "MailPlugin")
        jobs = _plugin(app, "bastion.jobs.plugin", "JobsPlugin")
        notifier.webhook_job = _webhook_job(jobs.jobs, self) if jobs is not None else None
        app.middleware.insert(0, ASGIMiddleware(_CurrentNotifier, notifier=notifier))
        app.lifespan_contexts.append(self._lifespan)
        if self.routes is not None:
            self._add_routes(app)

    def _add_routes(self, app: App[Any]) -> None:
        if self.notifier.inbox is None:
            raise ConfigurationError(
                f"NotificationsPlugin(routes={self.routes!r}) serves stored notifications, "
                "which need the app's database: add SQLAlchemyPlugin(...) before it, or "
                "drop routes="
            )
        if _plugin(app, "bastion.auth.plugin", "AuthPlugin") is None:
            raise ConfigurationError(
                f"NotificationsPlugin(routes={self.routes!r}) serves the current user's "
                "notifications: add AuthPlugin(...) to App(plugins=[...]), or drop routes="
            )
        from bastion.notifications.routes import notifications_router

        assert self.routes is not None
        app.include(notifications_router(self.routes, self.notifier))

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        notifier = self.notifier
        token = _notifier._current.set(notifier)  # workers and scripts run in this context
        entry = (notifier, asyncio.get_running_loop())
        _notifier.running.append(entry)
        try:
            yield
        finally:
            _notifier.running.remove(entry)
            with contextlib.suppress(ValueError):  # left in another context
                _notifier._current.reset(token)
            client, self._client = self._client, None
            if client is not None:
                await client.aclose()

    # -- webhooks ----------------------------------------------------------------------------

    async def deliver_webhook(self, url: str, secret: str, body: str, notification_id: str) -> None:
        """One attempt: sign the body now and POST it; anything but a 2xx raises (the job is
        retried with backoff)."""
        import httpx

        if self._client is None:
            # trust_env=False: no ~/.netrc credentials or proxy settings for URLs users gave.
            self._client = httpx.AsyncClient(
                timeout=self.webhook_timeout, follow_redirects=False, trust_env=False
            )
        raw = body.encode()
        response = await self._client.post(
            url, content=raw, headers=delivery_headers(secret, raw, notification_id)
        )
        check_answer(url, response.status_code)
        logger.info(
            "delivered webhook %s", notification_id, extra={"notification_id": notification_id}
        )


class _CurrentNotifier:
    """Makes the app's notifier the one ``notify()`` uses while a request or socket runs."""

    def __init__(self, app: Any, notifier: Notifier) -> None:
        self.app = app
        self.notifier = notifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _notifier._current.set(self.notifier)
        try:
            await self.app(scope, receive, send)
        finally:
            _notifier._current.reset(token)


class _WebhookJob:
    """The ``bastion.notifications.webhook`` job of one ``Jobs`` registry, and the plugin
    whose HTTP client delivers."""

    def __init__(self, jobs: Jobs, plugin: NotificationsPlugin) -> None:
        from bastion.jobs.registry import Jobs

        self.plugin = plugin
        registry = Jobs()

        async def deliver(url: str, secret: str, body: str, notification_id: str) -> None:
            """Deliver one signed webhook (a notification's ``webhook`` channel)."""
            await self.plugin.deliver_webhook(url, secret, body, notification_id)

        self.job: Job[Any, Any] = registry.job(name=WEBHOOK_JOB)(deliver)
        jobs.include(registry)


#: One job per registry: an app built again on the same ``Jobs()`` (tests do) re-points it.
_WEBHOOK_JOBS: weakref.WeakKeyDictionary[Jobs, _WebhookJob] = weakref.WeakKeyDictionary()


def _webhook_job(jobs: Jobs, plugin: NotificationsPlugin) -> Job[Any, Any]:
    entry = _WEBHOOK_JOBS.get(jobs)
    if entry is None:
        entry = _WEBHOOK_JOBS[jobs] = _WebhookJob(jobs, plugin)
    entry.plugin = plugin
    options = replace(
        entry.job.options,
        queue=plugin.webhook_queue,
        max_attempts=plugin.webhook_attempts,
        timeout=plugin.webhook_timeout * 2,  # the request's own timeout fires first
    )
    entry.job.options = options.checked(
        f"NotificationsPlugin(webhook_queue={plugin.webhook_queue!r}, ...)"
    )
    return entry.job


def _plugin(app: App[Any], module: str, name: str) -> Any:
    """The app's plugin of that class, looked for only if its battery is loaded."""
    loaded = sys.modules.get(module)
    if loaded is None:
        return None
    cls = getattr(loaded, name)
    return next((p for p in app.plugins if isinstance(p, cls)), None)
