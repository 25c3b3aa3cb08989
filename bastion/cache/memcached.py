"""The memcached backend (aiomcache): a shared cache without sets or key listing.

memcached can neither list keys nor keep sets, so tags and prefixes are versioned (Laravel's
and Rails' way): a tag or a cleared prefix has a version number stored under its own key,
every entry records the versions it was written under, and a read that finds one changed (or
evicted) is a miss. ``invalidate_tags`` and ``clear`` are then one increment each. Entries
also carry their exact expiry, so TTLs below memcached's one-second grain hold, and counters
and ``touch`` go through check-and-set, which keeps both the expiry and the versions.

Reading an untagged entry is one round trip (the entry and its prefixes' versions in one
``get``); a tagged one takes a second for its tags. Keys longer than memcached's 250 bytes,
or with spaces or control characters, are stored under their SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
import urllib.parse
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from bastion.cache._codec import is_integer
from bastion.cache.backend import BackendUnavailable
from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    import aiomcache

T = TypeVar("T")
_VALID = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]{1,250}")
_THIRTY_DAYS = 30 * 24 * 3600
_CAS_ATTEMPTS = 200


class _Entry(msgspec.Struct, array_like=True):
    versions: dict[str, int]  # mark ("p:<prefix>" or "t:<tag>") -> version when written
    expires: float  # epoch seconds; 0: never
    value: bytes


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Entry).decode


class MemcachedBackend:
    """``MemcachedBackend("memcached://127.0.0.1:11211", timeout=1.0, pool_size=16)``."""

    shared = True

    def __init__(
        self,
        url: str = "memcached://127.0.0.1:11211",
        *,
        timeout: float = 1.0,
        pool_size: int = 16,
    ) -> None:
        try:
            import aiomcache  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "The memcached cache needs aiomcache: pip install 'bastion[memcached]'"
            ) from None
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "memcached" or not parsed.hostname:
            raise ConfigurationError(f"MemcachedBackend({url!r}): write memcached://host:11211")
        self.url = url
        self.host = parsed.hostname
        self.port = parsed.port or 11211
        self.timeout = timeout
        self.pool_size = pool_size
        self._client: aiomcache.Client | None = None
        self._prefixes: list[str] = []

    def __repr__(self) -> str:
        return f"MemcachedBackend('memcached://{self.host}:{self.port}')"

    async def start(self) -> None:
        if self._client is None:
            self._client = _client_class()(
                self.host, self.port, pool_size=self.pool_size, pool_minsize=1
            )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def watch_prefix(self, prefix: str) -> None:
        if prefix not in self._prefixes:
            self._prefixes.append(prefix)

    # -- plumbing --------------------------------------------------------------------------
    @property
    def client(self) -> aiomcache.Client:
        if self._client is None:
            raise ConfigurationError(
                "The memcached cache is not started: run the app with its lifespan, or "
                "await backend.start()"
            )
        return self._client

    async def _run(self, operation: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await operation
        except TimeoutError as exc:
            # A command cut off mid-answer leaves its connection unusable: drop idle ones.
            await self.client.close()
            raise BackendUnavailable("memcached did not answer in time") from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise BackendUnavailable(f"memcached: {exc!r}") from exc
        except Exception as exc:
            from aiomcache.exceptions import ClientException, ValidationException

            if isinstance(exc, ClientException) and not isinstance(exc, ValidationException):
                # an answer cut short (the server went away) or a server error
                raise BackendUnavailable(f"memcached: {exc}") from exc
            raise

    @staticmethod
    def _k(key: str) -> bytes:
        if len(key) <= 250 and _VALID.fullmatch(key) and len(key.encode()) <= 250:
            return key.encode()
        return b"#h:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest().encode()

    def _marks(self, key: str) -> list[str]:
        return ["p:" + p for p in self._prefixes if key.startswith(p)]

    @staticmethod
    def _version_key(mark: str) -> bytes:
        return MemcachedBackend._k("#v:" + mark)

    @staticmethod
    def _exptime(ttl: float | None) -> tuple[int, float]:
        """memcached's exptime (relative seconds, or epoch beyond 30 days) and the exact
        epoch expiry kept in the entry. memcached's clock moves once a second, so a relative
        exptime of 1 may end at once: it gets a second more, and the entry's own expiry
        decides."""
        if ttl is None:
            return 0, 0.0
        expires = time.time() + ttl
        seconds = math.ceil(ttl) + 1
        return (seconds if seconds <= _THIRTY_DAYS else math.ceil(expires)), expires

    async def _versions(self, marks: Sequence[str]) -> dict[str, int]:
        """The current versions of ``marks``, creating missing ones (from the clock, so a
        version evicted and made again never repeats an old one)."""
        if not marks:
            return {}
        keys = [self._version_key(m) for m in marks]
        found = await self._run(self.client.multi_get(*keys))
        versions = {}
        for mark, key, raw in zip(marks, keys, found, strict=True):
            if raw is None:
                start = str(time.time_ns()).encode()
                if not await self._run(self.client.add(key, start)):
                    raw = await self._run(self.client.get(key))
                raw = raw if raw is not None else start
            versions[mark] = int(raw)
        return versions

    async def _current(self, entry: _Entry, known: dict[str, bytes | None]) -> bool:
        """Whether every version the entry recorded is still the current one."""
        missing = [m for m in entry.versions if m not in known]
        if missing:
            keys = [self._version_key(m) for m in missing]
            for mark, raw in zip(
                missing, await self._run(self.client.multi_get(*keys)), strict=True
            ):
                known[mark] = raw
        for mark, version in entry.versions.items():
            raw = known[mark]
            if raw is None or int(raw) != version:
                return False
        return all(mark in entry.versions for mark in known if mark.startswith("p:"))

    async def _valid(self, raw: bytes | None, known: dict[str, bytes | None]) -> _Entry | None:
        if raw is None:
            return None
        try:
            entry = _decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if entry.expires and entry.expires <= time.time():
            return None
        return entry if await self._current(entry, known) else None

    async def _pack(
        self, key: str, value: bytes, ttl: float | None, tags: Sequence[str]
    ) -> tuple[bytes, int]:
        exptime, expires = self._exptime(ttl)
        versions = await self._versions([*self._marks(key), *("t:" + t for t in tags)])
        return _encode(_Entry(versions, expires, value)), exptime

    # -- the protocol ----------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        marks = sorted({m for key in keys for m in self._marks(key)})
        found = await self._run(
            self.client.multi_get(*[self._k(k) for k in keys], *map(self._version_key, marks))
        )
        known = dict(zip(marks, found[len(keys) :], strict=True))
        result = []
        for key, raw in zip(keys, found[: len(keys)], strict=True):
            mine = {m: known[m] for m in self._marks(key)}
            entry = await self._valid(raw, mine)
            result.append(None if entry is None else entry.value)
        return result

    async def set(
        self, key: str, value: bytes, ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        data, exptime = await self._pack(key, value, ttl, tags)
        await self._run(self.client.set(self._k(key), data, exptime))

    async def set_many(
        self, items: Sequence[tuple[str, bytes]], ttl: float | None, tags: Sequence[str] = ()
    ) -> None:
        await asyncio.gather(*(self.set(key, value, ttl, tags) for key, value in items))

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        data, exptime = await self._pack(key, value, ttl, ())
        if await self._run(self.client.add(self._k(key), data, exptime)):
            return True
        return await self._replace_stale(key, data, exptime)

    async def _replace_stale(self, key: str, data: bytes, exptime: int) -> bool:
        """``add`` found something: it still counts as absent if expired or outdated."""
        raw, token = await self._run(self.client.gets(self._k(key)))
        if raw is None:
            return bool(await self._run(self.client.add(self._k(key), data, exptime)))
        if await self._valid(raw, await self._known(key)) is not None:
            return False
        return bool(await self._run(self.client.cas(self._k(key), data, token or 0, exptime)))

    async def _known(self, key: str) -> dict[str, bytes | None]:
        marks = self._marks(key)
        if not marks:
            return {}
        found = await self._run(self.client.multi_get(*map(self._version_key, marks)))
        return dict(zip(marks, found, strict=True))

    async def delete(self, key: str) -> bool:
        if await self.get(key) is None:
            await self._run(self.client.delete(self._k(key)))
            return False
        return bool(await self._run(self.client.delete(self._k(key))))

    async def delete_if(self, key: str, value: bytes) -> bool:
        # Not atomic (memcached has no compare-and-delete); used for locks, whose expiry
        # bounds the harm of the rare race.
        if await self.get(key) != value:
            return False
        return bool(await self._run(self.client.delete(self._k(key))))

    async def incr(self, key: str, delta: int, ttl: float | None) -> int:
        mkey = self._k(key)
        for _ in range(_CAS_ATTEMPTS):
            raw, token = await self._run(self.client.gets(mkey))
            entry = await self._valid(raw, await self._known(key))
            if entry is not None:
                if not is_integer(entry.value):
                    raise TypeError(f"cache key {key!r} holds a value that is not an integer")
                number = int(entry.value) + delta
                remaining = entry.expires - time.time() if entry.expires else None
                if remaining is not None and remaining <= 0:
                    continue
                exptime, _ = self._exptime(remaining)
                entry.value = str(number).encode()
                if await self._run(self.client.cas(mkey, _encode(entry), token or 0, exptime)):
                    return number
                continue
            data, exptime = await self._pack(key, str(delta).encode(), ttl, ())
            if raw is None:
                stored = await self._run(self.client.add(mkey, data, exptime))
            else:
                stored = await self._run(self.client.cas(mkey, data, token or 0, exptime))
            if stored:
                return delta
        raise BackendUnavailable(f"memcached: incr of {key!r} lost {_CAS_ATTEMPTS} races")

    async def touch(self, key: str, ttl: float | None) -> bool:
        mkey = self._k(key)
        for _ in range(_CAS_ATTEMPTS):
            raw, token = await self._run(self.client.gets(mkey))
            entry = await self._valid(raw, await self._known(key))
            if entry is None:
                return False
            exptime, entry.expires = self._exptime(ttl)
            if await self._run(self.client.cas(mkey, _encode(entry), token or 0, exptime)):
                return True
        raise BackendUnavailable(f"memcached: touch of {key!r} lost {_CAS_ATTEMPTS} races")

    async def clear(self, prefix: str) -> None:
        self.watch_prefix(prefix)
        await self._bump(["p:" + prefix])

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        await self._bump(["t:" + tag for tag in tags])

    async def _bump(self, marks: Sequence[str]) -> None:
        for mark in marks:
            try:
                await self._run(self.client.incr(self._version_key(mark)))
            except BackendUnavailable as exc:
                # A missing version needs nothing: entries that recorded one are stale already.
                if "NOT_FOUND" not in str(exc.__cause__):
                    raise


_CLIENT: Any = None


def _client_class() -> Any:
    """aiomcache's client, with one fix: a connection closed in the middle of an answer is
    an error. aiomcache reads on until a line ends, and at end of file that loop never
    yields, which would freeze the event loop when memcached restarts mid-command."""
    global _CLIENT
    if _CLIENT is None:
        import aiomcache

        class Client(aiomcache.Client):
            async def _execute_simple_command(self, conn: Any, raw_command: bytes) -> bytes:
                conn.writer.write(raw_command)
                await conn.writer.drain()
                line: bytes = await conn.reader.readline()
                if not line.endswith(b"\r\n"):
                    raise ConnectionResetError("memcached closed the connection mid-answer")
                return line[:-2]

        _CLIENT = Client
    return _CLIENT
