"""``MessagingPlugin``: connects a ``MessageBus`` to a backend for the app's lifetime, and
runs its handlers where configuration says.

    App(plugins=[MessagingPlugin(bus, backend="nats://127.0.0.1:4222", group="orders")])

The backend is ``backend=`` if given, else the ``messages_backend`` setting
(``BASTION_MESSAGES_BACKEND``): ``"memory"``, a ``nats://`` URL or a ``redis://`` URL; else
memory. Handlers run in ``bastion worker`` (with or without ``JobsPlugin``), and inside the
app's own processes (``bastion serve``) when ``consume`` is on (``BASTION_MESSAGES_CONSUME=1``),
which is the default only for the memory backend, where no other process could run them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Unpack

from bastion.exceptions import ConfigurationError
from bastion.services.messaging._options import ConsumerOptions, consumer_options
from bastion.services.messaging.backend import MessagingBackend
from bastion.services.messaging.bus import MessageBus
from bastion.services.messaging.consumer import Consumer

if TYPE_CHECKING:
    from bastion.app import App

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class MessagingPlugin:
    """Messages for one app. ``backend``: a ``MessagingBackend``, ``"memory"``, or a
    ``nats://`` or ``redis://`` URL. ``consume``: run the handlers inside the app's processes
    too (default: the ``messages_consume`` setting, else only with the memory backend). The
    options are ``Consumer``'s (``group``, ``concurrency``, ``redeliver_after``,
    ``max_attempts``, ``retry_delay``, ``grace``, ``max_size``, ``poll``); the group also
    comes from the ``messages_group`` setting."""

    def __init__(
        self,
        bus: MessageBus,
        backend: MessagingBackend | str | None = None,
        *,
        consume: bool | None = None,
        **options: Unpack[ConsumerOptions],
    ) -> None:
        if not isinstance(bus, MessageBus):
            raise ConfigurationError(
                f"MessagingPlugin takes the app's MessageBus() first, got {bus!r}"
            )
        if backend is not None and not isinstance(backend, str | MessagingBackend):
            raise ConfigurationError(
                f"MessagingPlugin(backend={backend!r}): give 'memory', a nats:// or redis:// "
                "URL, or a bastion.services.messaging.MessagingBackend"
            )
        consumer_options(dict(options))  # refused here, not at start-up
        self.bus = bus
        self.backend_spec = backend
        self.consume = consume
        self.options: dict[str, Any] = dict(options)
        self.app: App[Any] | None = None
        self.backend: MessagingBackend | None = None
        self.consumer: Consumer | None = None

    def on_app_init(self, app: App[Any]) -> None:
        self.app = app
        database = _database_plugin(app)
        if database is not None and app.plugins.index(database) > app.plugins.index(self):
            raise ConfigurationError(
                "MessagingPlugin runs handlers that may use the database SQLAlchemyPlugin "
                "opens, so it must come after it: App(plugins=[SQLAlchemyPlugin(...), "
                "MessagingPlugin(bus)])"
            )
        self.backend = self._choose_backend(app)
        self.bus.backend = self.backend
        if self.consume is None:
            setting = _setting(app, "messages_consume")
            self.consume = (
                _flag(setting, "messages_consume / BASTION_MESSAGES_CONSUME")
                if setting is not None
                else _is_memory(self.backend)
            )
        if "group" not in self.options and _setting(app, "messages_group"):
            self.options["group"] = _setting(app, "messages_group")
            consumer_options(self.options, "messages_group / BASTION_MESSAGES_GROUP")
        app.provide(MessageBus, _provider(self.bus), scope="app")
        app.lifespan_contexts.append(self._lifespan)
        from bastion.services.messaging.cli import messages_command, worker_command

        app.cli_commands.append(messages_command(self))
        if not _has_jobs(app):  # JobsPlugin's `bastion worker` runs the handlers too
            app.cli_commands.append(worker_command(self))

    def _choose_backend(self, app: App[Any]) -> MessagingBackend:
        spec = self.backend_spec
        if spec is None:
            spec = _setting(app, "messages_backend") or "memory"
        if not isinstance(spec, str):
            return spec
        if spec == "memory":
            from bastion.services.messaging.memory import MemoryBackend

            return MemoryBackend()
        if spec.startswith(("nats://", "tls://")):
            from bastion.services.messaging.nats import NatsBackend

            return NatsBackend(spec)
        if spec.startswith(("redis://", "rediss://", "unix://")):
            from bastion.services.messaging.redis import RedisStreamsBackend

            return RedisStreamsBackend(spec)
        raise ConfigurationError(
            f"messages backend {spec!r} is unknown: write 'memory', a nats://host:4222 URL or "
            "a redis://host:6379/0 URL"
        )

    def make_consumer(self, **overrides: Any) -> Consumer:
        """A consumer of this app's handlers (``bastion worker`` and ``consume``)."""
        assert self.app is not None and self.backend is not None
        from bastion.services.messaging._observe import metrics_for, tracer_for

        options = {**self.options, **{k: v for k, v in overrides.items() if v is not None}}
        return Consumer(
            self.bus,
            self.backend,
            container=self.app.container,
            metrics=metrics_for(self.app),
            tracer=tracer_for(self.app),
            **options,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        assert self.backend is not None
        consumer = self.make_consumer() if self.consume else None
        if consumer is not None:
            consumer.compile()  # a handler that cannot be injected fails start-up
        await self.backend.start()
        self._add_readiness_check(app)
        from bastion.services.messaging._observe import metrics_for, tracer_for

        self.bus.metrics = metrics_for(app)
        self.bus.traced = tracer_for(app) is not None
        try:
            if consumer is not None:
                await consumer.start()
                self.consumer = consumer
            yield
        finally:
            try:
                if consumer is not None:
                    await consumer.stop()
            finally:
                self.consumer = None
                await self.backend.stop()

    def _add_readiness_check(self, app: App[Any]) -> None:
        """With ``ObservabilityPlugin``, ``/health/ready`` fails while the broker is away."""
        module = sys.modules.get("bastion.observability.plugin")
        if module is None:
            return
        from bastion.observability.health import HealthCheck

        backend = self.backend
        assert backend is not None

        async def probe() -> dict[str, Any]:
            await backend.ping()
            return {"backend": type(backend).__name__}

        for plugin in app.plugins:
            if isinstance(plugin, module.ObservabilityPlugin):
                checks = plugin.readiness_checks
                if not any(check.name == "messages" for check in checks):
                    checks.append(HealthCheck("messages", probe))


def _provider(bus: MessageBus) -> Any:
    def message_bus() -> MessageBus:
        return bus

    return message_bus


def _is_memory(backend: MessagingBackend) -> bool:
    from bastion.services.messaging.memory import MemoryBackend

    return isinstance(backend, MemoryBackend)


def _has_jobs(app: App[Any]) -> bool:
    module = sys.modules.get("bastion.jobs.plugin")
    return module is not None and any(isinstance(p, module.JobsPlugin) for p in app.plugins)


def _database_plugin(app: App[Any]) -> Any:
    module = sys.modules.get("bastion.db.plugin")
    if module is None:
        return None
    return next((p for p in app.plugins if isinstance(p, module.SQLAlchemyPlugin)), None)


def _setting(app: App[Any], name: str) -> Any:
    """A messages setting from ``app.settings`` or the environment."""
    value = getattr(app.settings, name, None)
    if value is None:
        value = os.environ.get(f"BASTION_{name.upper()}")
    return value


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{where}={value!r}: write 1/true/yes/on or 0/false/no/off")
