"""The ``Storage`` interface and the obstore-backed code both backends share.

obstore (Rust's ``object_store``, maintained by the Apache Arrow project, used by Polars and
others) rather than aioboto3: it is async without wrapping a sync SDK in threads, streams
uploads as multipart parts, signs URLs itself, and speaks to the local disk and any
S3-compatible server with one API, so both backends are one code path.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Collection
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

import msgspec

from bastion.exceptions import HTTPError, NotFound
from bastion.http.response import Response
from bastion.http.uploads import UploadFile
from bastion.storage._keys import checked, new_key
from bastion.storage._limits import Checked, Limits
from bastion.storage._sniff import EXTENSIONS

#: Bytes read from an upload per step: what the Python side holds at once.
CHUNK_SIZE = 64 * 1024
#: Multipart part size and parts in flight: what the S3 side holds at once (5 MiB is S3's
#: smallest part).
PART_SIZE = 5 * 1024 * 1024
PARTS_IN_FLIGHT = 2
DEFAULT_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")

Source = UploadFile | AsyncIterable[bytes] | bytes


class StoredFile(msgspec.Struct, frozen=True):
    """A stored file: its ``key`` (what to keep in your database), size and sniffed type."""

    key: str
    size: int
    content_type: str
    etag: str | None = None


@runtime_checkable
class Storage(Protocol):
    """Where uploaded files go: ``LocalStorage`` (a folder) or ``S3Storage`` (a bucket)."""

    limits: Limits

    async def save(
        self,
        source: Source,
        *,
        prefix: str = "",
        field: str = "file",
        max_size: int | None = None,
        allowed_types: Collection[str] | None = None,
    ) -> StoredFile:
        """Stream ``source`` in under a new random key (413/422 past the limits)."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes, chunk by chunk (404 if there is none)."""
        ...

    async def info(self, key: str) -> StoredFile: ...

    async def delete(self, key: str) -> None: ...

    async def url(self, key: str, *, expires_in: timedelta = ...) -> str:
        """A URL anyone holding it may GET the file from until it expires."""
        ...

    async def response(self, key: str) -> Response:
        """An answer that sends the file (ETag, Range), for a handler that checked access."""
        ...


async def _chunks(source: Source) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        yield source
    elif isinstance(source, UploadFile):
        await source.seek(0)
        while chunk := await source.read(CHUNK_SIZE):
            yield chunk
    else:
        async for chunk in source:
            yield bytes(chunk)


class ObjectStorage:
    """``Storage`` over an obstore store; subclasses add how files are linked and served."""

    def __init__(self, store: Any, limits: Limits, where: str) -> None:
        self.store = store
        self.limits = limits
        self.where = where

    def _attributes(self, media_type: str) -> dict[str, str] | None:
        return None

    async def save(
        self,
        source: Source,
        *,
        prefix: str = "",
        field: str = "file",
        max_size: int | None = None,
        allowed_types: Collection[str] | None = None,
    ) -> StoredFile:
        import obstore

        limits = self.limits
        if max_size is not None or allowed_types is not None:
            limits = Limits.of(
                max_size or limits.max_size, allowed_types or limits.allowed_types, self.where
            )
        if prefix and not checked_prefix(prefix):
            raise ValueError(f"storage prefix {prefix!r}: use letters, digits, ._- and end in /")
        if isinstance(source, UploadFile) and source.size > limits.max_size:
            raise limits.too_large()  # known before reading a byte
        stream = Checked(_chunks(source), limits, field)
        media = await stream.start()
        key = new_key(prefix, EXTENSIONS[media])
        failure: list[HTTPError] = []

        async def parts() -> AsyncIterator[bytes]:
            try:
                async for chunk in stream:
                    yield chunk
            except HTTPError as exc:
                failure.append(exc)
                raise

        try:
            result = await obstore.put_async(
                self.store,
                key,
                parts(),
                attributes=self._attributes(media),
                chunk_size=PART_SIZE,
                max_concurrency=PARTS_IN_FLIGHT,
            )
        except Exception:
            await self._forget(key)
            if failure:
                raise failure[0] from None
            raise
        return StoredFile(key, stream.size, media, result.get("e_tag"))

    async def _forget(self, key: str) -> None:
        import obstore

        try:
            await obstore.delete_async(self.store, key)
        except Exception:  # nothing was written, or the part upload was aborted
            pass

    async def open(self, key: str) -> AsyncIterator[bytes]:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            result = await obstore.get_async(self.store, checked(key))
        except (NotFoundError, FileNotFoundError):
            raise NotFound("No such file") from None
        async for chunk in result.stream(min_chunk_size=CHUNK_SIZE):
            yield bytes(chunk)

    async def info(self, key: str) -> StoredFile:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            meta = await obstore.head_async(self.store, checked(key))
        except (NotFoundError, FileNotFoundError):
            raise NotFound("No such file") from None
        return StoredFile(key, meta["size"], media_type_of(key), meta.get("e_tag"))

    async def delete(self, key: str) -> None:
        import obstore

        await obstore.delete_async(self.store, checked(key))


def media_type_of(key: str) -> str:
    extension = "." + key.rpartition(".")[2]
    return next((m for m, e in EXTENSIONS.items() if e == extension), "application/octet-stream")


def checked_prefix(prefix: str) -> bool:
    from bastion.storage._keys import is_key

    return prefix.endswith("/") and is_key(prefix[:-1])
