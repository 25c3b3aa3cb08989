"""An uploaded file from a multipart form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

SPOOL_SIZE = 1024 * 1024


class UploadFile:
    """An uploaded file: small ones stay in memory, bigger ones spill to a temporary file.

    ``filename`` is what the client sent; never use it as a path on disk.
    """

    def __init__(
        self, filename: str | None, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.size = 0
        import tempfile  # only when a file arrives: keeps it off the import path

        spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)  # noqa: SIM115 (closed by close())
        self.file: BinaryIO = spooled  # type: ignore[assignment]

    @property
    def in_memory(self) -> bool:
        return not getattr(self.file, "_rolled", True)

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.in_memory and self.size <= SPOOL_SIZE:
            self.file.write(data)
        else:
            await _in_thread(self.file.write, data)

    async def read(self, size: int = -1) -> bytes:
        data: bytes = await _in_thread(self.file.read, size)
        return data

    async def seek(self, offset: int) -> None:
        await _in_thread(self.file.seek, offset)

    async def close(self) -> None:
        await _in_thread(self.file.close)

    def __repr__(self) -> str:
        return f"UploadFile(filename={self.filename!r}, size={self.size})"


async def _in_thread(fn: Any, *args: Any) -> Any:
    """File I/O off the event loop (anyio is imported only once a file is handled)."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args)
