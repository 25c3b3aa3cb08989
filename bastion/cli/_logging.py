"""Who writes the server's log lines: uvicorn's own setup, or the observability plugin.

With the plugin in the app, it owns the format and writes one access line per request, so
uvicorn's access log is turned off (else every request is logged twice) and its log config
is not installed over the plugin's. ``bastion run`` and ``bastion serve``'s workers share it.
"""

from __future__ import annotations

import sys
from typing import Any


def observability(app: Any) -> Any:
    """The app's ObservabilityPlugin, if the battery is in use (it then owns the logs)."""
    module = sys.modules.get("bastion.observability.plugin")
    if module is None:
        return None
    return next((p for p in app.plugins if isinstance(p, module.ObservabilityPlugin)), None)


def configure(app: Any) -> None:
    """Install the plugin's log format now, in the process that serves (before the first
    server line), rather than when the app's lifespan starts."""
    plugin = observability(app)
    if plugin is not None:
        plugin.configure_logging()


def owns_logs(app: Any) -> bool:
    """Whether the app's observability plugin writes the log lines (its format, not the
    server's)."""
    plugin = observability(app)
    return plugin is not None and plugin.logs is not None


def uvicorn_options(app: Any, access_log: bool) -> dict[str, Any]:
    """``access_log`` and ``log_config`` for ``uvicorn.Config`` / ``uvicorn.run``."""
    import uvicorn.config

    plugin = observability(app)
    return {
        "access_log": access_log and (plugin is None or not plugin.access_log),
        "log_config": None if owns_logs(app) else uvicorn.config.LOGGING_CONFIG,
    }
