"""API management: quotas, usage recording, key self-service and a developer portal.

``APIManagement`` is the plugin; ``Metered`` puts routes under quotas and usage recording.
"""

from bastion.apim.metering import Metered, by_api_key, by_user
from bastion.apim.plugin import APIManagement
from bastion.apim.quota import Quota
from bastion.apim.store import MemoryStore, MeterStore, RedisStore, UsageRow
from bastion.apim.usage import UsageRecorder

__all__ = [
    "APIManagement",
    "MemoryStore",
    "MeterStore",
    "Metered",
    "Quota",
    "RedisStore",
    "UsageRecorder",
    "UsageRow",
    "by_api_key",
    "by_user",
]
