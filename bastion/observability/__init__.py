"""Production observability: health probes, Prometheus metrics, structured logs, tracing,
an info endpoint and run-time log levels, all from ``ObservabilityPlugin``.

    from bastion import App
    from bastion.observability import ObservabilityPlugin

    app = App(plugins=[ObservabilityPlugin(token="a-long-random-management-token")])
"""

from bastion.observability.health import HealthCheck, database_check, redis_check
from bastion.observability.info import masked_settings
from bastion.observability.logs import DevFormatter, JSONFormatter, configure_logging
from bastion.observability.metrics import Metrics
from bastion.observability.plugin import ObservabilityPlugin

__all__ = [
    "DevFormatter",
    "HealthCheck",
    "JSONFormatter",
    "Metrics",
    "ObservabilityPlugin",
    "configure_logging",
    "database_check",
    "masked_settings",
    "redis_check",
]
