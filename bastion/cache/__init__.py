"""The cache battery: named caches on memory, Redis, memcached or the database, and response
caching (see docs/cache.md).

    from bastion.cache import Cache, CachePlugin, CachePolicy

    app = App(plugins=[CachePlugin()])

    @app.get("/tags", middleware=[CachePolicy(ttl=60, tags=("tags",))])
    async def tags(cache: Cache) -> list[str]:
        return await cache.remember("tags", 300, load_tags)
"""

from bastion.cache.backend import BackendUnavailable, CacheBackend
from bastion.cache.cache import DEFAULT_TTL, Cache
from bastion.cache.memory import MemoryBackend
from bastion.cache.plugin import CachePlugin, Caches
from bastion.cache.responses import CachePolicy

__all__ = [
    "DEFAULT_TTL",
    "BackendUnavailable",
    "Cache",
    "CacheBackend",
    "CachePlugin",
    "CachePolicy",
    "Caches",
    "MemoryBackend",
]
