"""``Cache``: what handlers use. It encodes values, prefixes keys, and turns outages into misses.

    await cache.set("user:1", user, ttl=60, tags=("users",))
    user = await cache.get("user:1", type=User)       # None on a miss
    tags = await cache.remember("tags", 300, load_tags)   # computed once, even under a stampede
    await cache.invalidate_tags("users")

Keys live under the cache's prefix (``<app>:cache:<name>:``); ``cache.namespace("blog")``
is a view whose keys live under ``...:blog:`` and whose ``clear()`` empties only those.
Tags belong to the whole cache: ``invalidate_tags`` reaches every namespace, and the
response cache too. A backend that is down (``BackendUnavailable``) never raises out of here:
reads miss, writes are skipped, and a warning is logged at most every 30 seconds per cache.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Final, TypeVar, overload

import msgspec

from bastion.cache._codec import MARK, decode, encode
from bastion.cache.backend import BackendUnavailable, CacheBackend
from bastion.exceptions import ConfigurationError

T = TypeVar("T")
D = TypeVar("D")
logger = logging.getLogger("bastion.cache")


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT_TTL"


#: ``ttl=DEFAULT_TTL`` (the default): the cache's ``default_ttl``. ``ttl=None``: no expiry.
DEFAULT_TTL: Final = _Default()
TTL = float | int | timedelta | None | _Default
_MISSING: Any = object()
_WARN_EVERY = 30.0


class _Core:
    """What a cache and its namespace views share."""

    __slots__ = (
        "backend",
        "base",
        "default_ttl",
        "flights",
        "lock_timeout",
        "name",
        "next_warning",
        "suppressed",
    )

    def __init__(
        self,
        backend: CacheBackend,
        name: str,
        base: str,
        default_ttl: float | None,
        lock_timeout: float,
    ) -> None:
        self.backend = backend
        self.name = name
        self.base = base
        self.default_ttl = default_ttl
        self.lock_timeout = lock_timeout
        #: Computations in progress in this process (``remember``), by full key.
        self.flights: dict[str, asyncio.Future[Any]] = {}
        self.next_warning = 0.0
        self.suppressed = 0

    def down(self, operation: str, exc: BaseException) -> None:
        """Log an outage, at most once per ``_WARN_EVERY`` seconds."""
        now = time.monotonic()
        if now < self.next_warning:
            self.suppressed += 1
            return
        self.next_warning = now + _WARN_EVERY
        more = (
            f" ({self.suppressed} more failures since the last warning)" if self.suppressed else ""
        )
        self.suppressed = 0
        cause = exc.__cause__ or exc
        logger.warning(
            "cache %r is unavailable (%s: %s: %s); answering misses and skipping writes%s",
            self.name,
            operation,
            type(cause).__name__,
            cause,
            more,
        )


class Cache:
    """A named cache on a backend. Made by ``CachePlugin``; handlers ask for ``cache: Cache``
    (the default one) or ``caches: Caches`` (``caches["sessions"]``). Standalone:
    ``Cache(MemoryBackend())`` (then ``await cache.start()``)."""

    __slots__ = ("_backend", "_core", "prefix")

    def __init__(
        self,
        backend: CacheBackend,
        *,
        name: str = "default",
        prefix: str | None = None,
        default_ttl: float | timedelta | None = 300.0,
        lock_timeout: float = 10.0,
    ) -> None:
        if not isinstance(backend, CacheBackend):
            raise ConfigurationError(
                f"Cache({backend!r}): a backend implements bastion.cache.CacheBackend "
                "(MemoryBackend, RedisBackend, MemcachedBackend, DatabaseBackend)"
            )
        base = prefix if prefix is not None else f"cache:{name}"
        ttl = _seconds(default_ttl, "default_ttl")
        if ttl is not None and ttl <= 0:
            raise ConfigurationError(
                f"Cache {name!r}: default_ttl={default_ttl!r}; give seconds > 0, or None for "
                "no expiry"
            )
        if lock_timeout <= 0:
            raise ConfigurationError(f"Cache {name!r}: lock_timeout must be > 0 seconds")
        self._core = _Core(backend, name, base, ttl, float(lock_timeout))
        self._backend = backend
        self.prefix = base + ":"
        backend.watch_prefix(self.prefix)

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def backend(self) -> CacheBackend:
        return self._backend

    def __repr__(self) -> str:
        return f"<Cache {self._core.name!r} {self.prefix!r} on {self._backend!r}>"

    async def start(self) -> None:
        await self._backend.start()

    async def stop(self) -> None:
        await self._backend.stop()

    def namespace(self, name: str) -> Cache:
        """A view whose keys live under ``name:``; same backend, same tags."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"namespace({name!r}): give a non-empty string")
        view = object.__new__(Cache)
        view._core = self._core
        view._backend = self._backend
        view.prefix = self.prefix + name + ":"
        self._backend.watch_prefix(view.prefix)
        return view

    # -- keys, TTLs, tags --------------------------------------------------------------------
    def key(self, key: str) -> str:
        """The full key stored in the backend."""
        if type(key) is not str:
            raise TypeError(f"cache keys are strings, not {type(key).__name__}: {key!r}")
        return self.prefix + key

    def _ttl(self, ttl: TTL) -> float | None:
        if ttl is DEFAULT_TTL:
            return self._core.default_ttl
        return _seconds(ttl, "ttl")

    def tag_keys(self, tags: str | Iterable[str]) -> list[str]:
        if isinstance(tags, str):
            tags = (tags,)
        base = self._core.base + "#tag:"
        result = []
        for tag in tags:
            if not isinstance(tag, str) or not tag or "\n" in tag:
                raise TypeError(f"cache tags are non-empty strings without newlines: {tag!r}")
            result.append(base + tag)
        return result

    def _decoded(self, full: str, data: bytes, tp: Any, default: Any) -> Any:
        try:
            return decode(data, tp)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            # Written before a deploy changed the type, or by other code: a miss, not a 500.
            logger.info(
                "cache entry %r does not decode as %r (%s); treated as a miss", full, tp, exc
            )
            return default

    # -- reading -----------------------------------------------------------------------------
    @overload
    async def get(self, key: str, default: Any = None, *, type: None = None) -> Any: ...
    @overload
    async def get(self, key: str, default: D, *, type: type[T]) -> T | D: ...
    @overload
    async def get(self, key: str, *, type: type[T]) -> T | None: ...

    async def get(self, key: str, default: Any = None, *, type: Any = None) -> Any:
        """The value under ``key`` (decoded as ``type`` when given), else ``default``."""
        full = self.key(key)
        try:
            data = await self._backend.get(full)
        except BackendUnavailable as exc:
            self._core.down("get", exc)
            return default
        if data is None:
            return default
        return self._decoded(full, data, type, default)

    async def get_many(self, keys: Iterable[str], *, type: Any = None) -> dict[str, Any]:
        """The keys that hit, with their values (missing keys are left out)."""
        keys = list(keys)
        fulls = [self.key(k) for k in keys]
        try:
            found = await self._backend.get_many(fulls)
        except BackendUnavailable as exc:
            self._core.down("get_many", exc)
            return {}
        result = {}
        for key, full, data in zip(keys, fulls, found, strict=True):
            if data is not None:
                value = self._decoded(full, data, type, _MISSING)
                if value is not _MISSING:
                    result[key] = value
        return result

    # -- writing -----------------------------------------------------------------------------
    async def set(
        self, key: str, value: Any, ttl: TTL = DEFAULT_TTL, *, tags: str | Iterable[str] = ()
    ) -> None:
        """Store ``value`` (msgspec-encodable) for ``ttl`` seconds; ``ttl <= 0`` deletes."""
        await self._write(self.key(key), value, ttl, tags)

    async def _write(self, full: str, value: Any, ttl: TTL, tags: str | Iterable[str]) -> bytes:
        data = encode(value)
        seconds = self._ttl(ttl)
        tag_keys = self.tag_keys(tags)
        try:
            if seconds is not None and seconds <= 0:
                await self._backend.delete(full)
            else:
                await self._backend.set(full, data, seconds, tag_keys)
        except BackendUnavailable as exc:
            self._core.down("set", exc)
        return data

    async def set_many(
        self, values: Mapping[str, Any], ttl: TTL = DEFAULT_TTL, *, tags: str | Iterable[str] = ()
    ) -> None:
        items = [(self.key(k), encode(v)) for k, v in values.items()]
        seconds = self._ttl(ttl)
        tag_keys = self.tag_keys(tags)
        try:
            if seconds is not None and seconds <= 0:
                for full, _ in items:
                    await self._backend.delete(full)
            elif items:
                await self._backend.set_many(items, seconds, tag_keys)
        except BackendUnavailable as exc:
            self._core.down("set_many", exc)

    async def add(self, key: str, value: Any, ttl: TTL = DEFAULT_TTL) -> bool:
        """Store only if ``key`` holds nothing; True when stored (False too when down)."""
        seconds = self._ttl(ttl)
        if seconds is not None and seconds <= 0:
            return False
        try:
            return await self._backend.add(self.key(key), encode(value), seconds)
        except BackendUnavailable as exc:
            self._core.down("add", exc)
            return False

    async def delete(self, key: str) -> bool:
        """True when something was deleted."""
        try:
            return await self._backend.delete(self.key(key))
        except BackendUnavailable as exc:
            self._core.down("delete", exc)
            return False

    async def incr(self, key: str, delta: int = 1, *, ttl: TTL = DEFAULT_TTL) -> int:
        """Add ``delta`` atomically (across processes on shared backends) and return the new
        value; a missing key starts at 0 and gets ``ttl``, an existing one keeps its expiry.
        While the backend is down: ``delta``, as for a new key. On memcached a counter goes
        no lower than 0 only if you keep it so: it is exact there too."""
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"incr/decr take an integer delta, not {delta!r}")
        seconds = self._ttl(ttl)
        full = self.key(key)
        try:
            return await self._backend.incr(full, delta, seconds)
        except BackendUnavailable as exc:
            self._core.down("incr", exc)
            return delta

    async def decr(self, key: str, delta: int = 1, *, ttl: TTL = DEFAULT_TTL) -> int:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError(f"incr/decr take an integer delta, not {delta!r}")
        return await self.incr(key, -delta, ttl=ttl)

    async def touch(self, key: str, ttl: TTL = DEFAULT_TTL) -> bool:
        """Give an existing entry a new expiry; True when it existed."""
        seconds = self._ttl(ttl)
        full = self.key(key)
        try:
            if seconds is not None and seconds <= 0:
                return await self._backend.delete(full)
            return await self._backend.touch(full, seconds)
        except BackendUnavailable as exc:
            self._core.down("touch", exc)
            return False

    async def clear(self) -> None:
        """Delete every entry of this cache (or of this namespace, for a view)."""
        try:
            await self._backend.clear(self.prefix)
        except BackendUnavailable as exc:
            self._core.down("clear", exc)

    async def invalidate_tags(self, *tags: str) -> None:
        """Delete every entry stored with any of ``tags``, in every namespace of this cache
        (cached responses included)."""
        if not tags:
            return
        keys = self.tag_keys(tags)
        try:
            await self._backend.invalidate_tags(keys)
        except BackendUnavailable as exc:
            self._core.down("invalidate_tags", exc)

    # -- remember ----------------------------------------------------------------------------
    async def remember(
        self,
        key: str,
        ttl: TTL,
        factory: Callable[[], Awaitable[T]] | Callable[[], T],
        *,
        type: Any = None,
        tags: str | Iterable[str] = (),
    ) -> T:
        """The cached value, or ``factory()``'s result stored for ``ttl``.

        One computation per key at a time: concurrent callers in this process wait for the
        first; on a shared backend, other processes wait on a lock held in the backend (at
        most ``lock_timeout`` seconds, then they compute too). Hits and waiters get the value
        decoded (as ``type`` when given); the caller that computed gets the factory's object.
        """
        full = self.key(key)
        try:
            data = await self._backend.get(full)
        except BackendUnavailable as exc:
            self._core.down("get", exc)
            data = None
        if data is not None:
            value = self._decoded(full, data, type, _MISSING)
            if value is not _MISSING:
                return value  # type: ignore[no-any-return]
        flights = self._core.flights
        while (flight := flights.get(full)) is not None:
            try:
                shared = await asyncio.shield(flight)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if flight.cancelled() and (task is None or not task.cancelling()):
                    continue  # the computing caller was cancelled: take over
                raise
            value = self._decoded(full, shared, type, _MISSING)
            if value is _MISSING:  # the computed value does not fit this caller's type
                return await _call(factory)  # type: ignore[no-any-return]
            return value  # type: ignore[no-any-return]
        flight = asyncio.get_running_loop().create_future()
        flights[full] = flight
        try:
            value, data = await self._fill(full, ttl, factory, type, tags)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                flight.cancel()
            else:
                flight.set_exception(exc)
                flight.exception()  # waiters see it; no "never retrieved" log without them
            raise
        finally:
            if flights.get(full) is flight:
                del flights[full]
        flight.set_result(data)
        return value  # type: ignore[no-any-return]

    async def _fill(
        self, full: str, ttl: TTL, factory: Callable[[], Any], tp: Any, tags: Any
    ) -> tuple[Any, bytes]:
        """Compute and store, under the backend's lock when other processes share it."""
        backend = self._backend
        if not backend.shared:
            value = await _call(factory)
            return value, await self._write(full, value, ttl, tags)
        core = self._core
        lock = core.base + "#lock:" + full[len(core.base) :]
        token = MARK + os.urandom(12)  # never taken for an integer by any backend
        deadline = time.monotonic() + core.lock_timeout
        delay = 0.005
        while True:
            try:
                held = await backend.add(lock, token, core.lock_timeout)
            except BackendUnavailable as exc:
                core.down("remember", exc)
                value = await _call(factory)
                return value, encode(value)
            if held:
                try:
                    data = await self._peek(full)  # filled while we waited for the lock?
                    if data is not None:
                        value = self._decoded(full, data, tp, _MISSING)
                        if value is not _MISSING:
                            return value, data
                    value = await _call(factory)
                    return value, await self._write(full, value, ttl, tags)
                finally:
                    try:
                        await backend.delete_if(lock, token)
                    except BackendUnavailable:
                        pass  # it expires by itself
            if time.monotonic() >= deadline:  # the holder is too slow: compute as well
                value = await _call(factory)
                return value, await self._write(full, value, ttl, tags)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            data = await self._peek(full)
            if data is not None:
                value = self._decoded(full, data, tp, _MISSING)
                if value is not _MISSING:
                    return value, data

    async def _peek(self, full: str) -> bytes | None:
        try:
            return await self._backend.get(full)
        except BackendUnavailable as exc:
            self._core.down("get", exc)
            return None


async def _call(factory: Callable[[], Any]) -> Any:
    result = factory()
    if inspect.isawaitable(result):
        result = await result
    return result


def _seconds(ttl: Any, what: str) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        return ttl.total_seconds()
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"{what}={ttl!r}: give seconds, a timedelta, or None for no expiry")
    return float(ttl)
