"""The plugin protocol: how every battery (database, auth, cache, …) joins an app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bastion.app import App


@runtime_checkable
class Plugin(Protocol):
    """A battery. ``on_app_init`` runs once, inside ``App(...)``, and may add routes,
    middleware, providers (``app.provide``), lifespan contexts (``app.lifespan_contexts``),
    startup/shutdown hooks and CLI commands (``app.cli_commands``)."""

    def on_app_init(self, app: App[Any]) -> None: ...
