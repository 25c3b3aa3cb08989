"""``CachePlugin``: the app's caches, by name, each on a backend chosen by configuration.

    App(plugins=[CachePlugin()])                                        # memory
    App(plugins=[CachePlugin("redis://cache:6379/0", caches={"local": "memory"})])

A backend is written as ``"memory"`` (``memory://?max_entries=5000&max_bytes=...``), a
``redis://`` / ``rediss://`` / ``unix://`` URL, ``memcached://host:11211``, ``"database"``
(the app's ``SQLAlchemyPlugin`` database), or given as a ``CacheBackend`` object. The default
cache's comes from the argument, else the ``cache_url`` setting or ``BASTION_CACHE_URL``,
else memory; a named cache declared ``None`` reads ``BASTION_CACHE_<NAME>_URL`` (or the
``cache_<name>_url`` setting). Handlers ask for ``cache: Cache`` or ``caches: Caches``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bastion.cache.backend import BackendUnavailable, CacheBackend
from bastion.cache.cache import Cache, logger
from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.routing._endpoint import CompiledRoute
    from bastion.types import Endpoint

_NAME = re.compile(r"[a-z][a-z0-9_]*")
Spec = str | CacheBackend | None


class Caches(Mapping[str, Cache]):
    """The app's caches by name: ``caches["sessions"]``, ``caches.default``."""

    def __init__(self, caches: Mapping[str, Cache]) -> None:
        self._caches = dict(caches)

    def __getitem__(self, name: str) -> Cache:
        try:
            return self._caches[name]
        except KeyError:
            raise KeyError(
                f"no cache named {name!r}; the app has {', '.join(sorted(self._caches))} "
                "(declare more with CachePlugin(caches={...}))"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._caches)

    def __len__(self) -> int:
        return len(self._caches)

    @property
    def default(self) -> Cache:
        return self._caches["default"]


class CachePlugin:
    """The app's caches. ``default``: the default cache's backend (see the module docstring);
    ``caches``: more, by name. ``default_ttl``: seconds an entry lives when ``set`` gets no
    ``ttl`` (None: forever). ``prefix``: what every key starts with (default
    ``<app_name>:cache``; give apps that share a server different ones). ``timeout``: seconds
    a networked backend may take before it counts as down. ``lock_timeout``: the longest
    ``remember`` waits for another process's computation."""

    def __init__(
        self,
        default: Spec = None,
        *,
        caches: Mapping[str, Spec] | None = None,
        default_ttl: float | timedelta | None = 300.0,
        prefix: str | None = None,
        timeout: float = 1.0,
        lock_timeout: float = 10.0,
    ) -> None:
        caches = dict(caches or {})
        if "default" in caches and default is not None:
            raise ConfigurationError(
                "CachePlugin: the default cache is given twice (first argument and "
                "caches['default']); keep one"
            )
        for name in caches:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ConfigurationError(
                    f"CachePlugin(caches={{{name!r}: ...}}): name caches with lowercase "
                    "letters, digits and _, starting with a letter"
                )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError(f"CachePlugin(timeout={timeout!r}): give seconds > 0")
        self.specs: dict[str, Spec] = {"default": caches.pop("default", default), **caches}
        self.default_ttl = default_ttl
        self.prefix = prefix
        self.timeout = float(timeout)
        self.lock_timeout = lock_timeout
        self.caches = Caches({})

    def on_app_init(self, app: App[Any]) -> None:
        if any(isinstance(p, CachePlugin) and p is not self for p in app.plugins):
            raise ConfigurationError(
                "An app takes one CachePlugin; declare every cache in it with caches={...}"
            )
        prefix = self.prefix if self.prefix is not None else f"{app.settings.app_name}:cache"
        made = {}
        for name, spec in self.specs.items():
            backend = self._backend(app, name, spec)
            made[name] = Cache(
                backend,
                name=name,
                prefix=f"{prefix}:{name}",
                default_ttl=self.default_ttl,
                lock_timeout=self.lock_timeout,
            )
        self.caches = caches = Caches(made)
        default = caches.default

        async def provide_cache() -> Cache:
            return default

        async def provide_caches() -> Caches:
            return caches

        app.provide(Cache, provide_cache, scope="app")
        app.provide(Caches, provide_caches, scope="app")
        app.lifespan_contexts.append(self._lifespan)
        app.endpoint_wrappers.append(self._wrap(app))

    def _wrap(self, app: App[Any]) -> Any:
        def wrap(compiled: CompiledRoute) -> Endpoint:
            from bastion.cache.responses import cached_endpoint

            return cached_endpoint(compiled, app, self.caches)

        return wrap

    # -- backends --------------------------------------------------------------------------
    def _backend(self, app: App[Any], name: str, spec: Spec) -> CacheBackend:
        if spec is None:
            setting = "cache_url" if name == "default" else f"cache_{name}_url"
            spec = getattr(app.settings, setting, None) or os.environ.get(
                f"BASTION_{setting.upper()}"
            )
            if spec is None and name == "default":
                spec = "memory"
            if spec is None:
                raise ConfigurationError(
                    f"cache {name!r} has no backend: set BASTION_{setting.upper()} (e.g. "
                    f"redis://localhost:6379/0), or write CachePlugin(caches={{{name!r}: "
                    "'memory'}})"
                )
        if not isinstance(spec, str):
            if not isinstance(spec, CacheBackend):
                raise ConfigurationError(
                    f"cache {name!r}: {spec!r} is neither a backend URL nor a CacheBackend"
                )
            return spec
        return backend_from_url(spec, name=name, app=app, timeout=self.timeout, plugin=self)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        started: list[CacheBackend] = []
        try:
            for cache in self.caches.values():
                if any(cache.backend is b for b in started):
                    continue
                await cache.backend.start()
                started.append(cache.backend)
                try:
                    await cache.backend.get(cache.prefix + "#probe")
                except BackendUnavailable as exc:
                    cause = exc.__cause__ or exc
                    logger.warning(
                        "cache %r does not answer at start-up (%s); the app serves without it "
                        "(misses) until it does",
                        cache.name,
                        cause,
                    )
            yield
        finally:
            for backend in reversed(started):
                await backend.stop()


def backend_from_url(
    spec: str, *, name: str, app: App[Any] | None, timeout: float, plugin: Any = None
) -> CacheBackend:
    """The backend a configuration string names (see the module docstring)."""
    parsed = urllib.parse.urlsplit(spec)
    scheme = parsed.scheme or spec
    if scheme == "memory":
        from bastion.cache.memory import MemoryBackend

        options: dict[str, int] = {}
        for key, value in urllib.parse.parse_qsl(parsed.query):
            if key not in ("max_entries", "max_bytes") or not value.isdigit():
                raise ConfigurationError(
                    f"cache {name!r}: {spec!r}; memory takes ?max_entries=N&max_bytes=N"
                )
            options[key] = int(value)
        return MemoryBackend(**options)
    if scheme in ("redis", "rediss", "unix"):
        from bastion.cache.redis import RedisBackend

        return RedisBackend(spec, timeout=timeout)
    if scheme == "memcached":
        from bastion.cache.memcached import MemcachedBackend

        return MemcachedBackend(spec, timeout=timeout)
    if spec == "database":
        return _database_backend(app, name, plugin, timeout)
    raise ConfigurationError(
        f"cache {name!r}: backend {spec!r} is unknown; write 'memory', 'database', a "
        "redis://host:6379/0 URL or memcached://host:11211"
    )


def _database_backend(app: App[Any] | None, name: str, plugin: Any, timeout: float) -> CacheBackend:
    module = sys.modules.get("bastion.db.plugin")
    database = None
    if module is not None and app is not None:
        database = next((p for p in app.plugins if isinstance(p, module.SQLAlchemyPlugin)), None)
    if database is None or app is None:
        raise ConfigurationError(
            f"cache {name!r} uses the app's database: add SQLAlchemyPlugin before CachePlugin, "
            "App(plugins=[SQLAlchemyPlugin(), CachePlugin('database')])"
        )
    if plugin is not None and app.plugins.index(database) > app.plugins.index(plugin):
        raise ConfigurationError(
            "CachePlugin uses the database SQLAlchemyPlugin opens, so it must come after it: "
            "App(plugins=[SQLAlchemyPlugin(...), CachePlugin('database')])"
        )
    from bastion.cache.database import DatabaseBackend

    backend: CacheBackend = DatabaseBackend(database, timeout=timeout)
    return backend
