"""Size and type limits, checked as the bytes stream past: nothing is buffered but the
first ``HEAD_SIZE`` bytes (for the type) and the chunk in hand."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Collection
from dataclasses import dataclass

from bastion.exceptions import ConfigurationError, PayloadTooLarge, ValidationError
from bastion.storage._sniff import HEAD_SIZE, KNOWN_TYPES, sniff


@dataclass(frozen=True, slots=True)
class Limits:
    """The largest file accepted (bytes) and the media types it may be."""

    max_size: int
    allowed_types: frozenset[str]

    @classmethod
    def of(cls, max_size: int, allowed_types: Collection[str], where: str) -> Limits:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ConfigurationError(f"{where}: max_size={max_size!r}; use a number of bytes >= 1")
        unknown = sorted(set(allowed_types) - KNOWN_TYPES)
        if unknown:
            raise ConfigurationError(
                f"{where}: allowed types {', '.join(unknown)} cannot be recognised from a "
                f"file's bytes; choose among {', '.join(sorted(KNOWN_TYPES))}"
            )
        return cls(max_size, frozenset(allowed_types))

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The file is larger than the {self.max_size} bytes allowed")


class Checked:
    """Wraps a stream of chunks: ``media_type`` is known once ``start()`` has read the
    head; iterating yields every byte, raising 413 past the size limit."""

    def __init__(self, source: AsyncIterable[bytes], limits: Limits, field: str) -> None:
        self._chunks = aiter(source)
        self._limits = limits
        self._field = field
        self._head = b""
        self.size = 0
        self.media_type = ""

    async def start(self) -> str:
        """Read the head and check its type; returns the sniffed media type."""
        while len(self._head) < HEAD_SIZE:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                break
            self._head += chunk
            self._count(len(chunk))
        found = sniff(self._head[:HEAD_SIZE])
        if found is None or found not in self._limits.allowed_types:
            what = f"a {found} file" if found else "not a file type that can be recognised"
            raise ValidationError(
                [
                    {
                        "field": self._field,
                        "reason": f"Expected one of {', '.join(sorted(self._limits.allowed_types))}"
                        f" (by its content); this is {what}",
                    }
                ]
            )
        self.media_type = found
        return found

    def _count(self, size: int) -> None:
        self.size += size
        if self.size > self._limits.max_size:
            raise self._limits.too_large()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._head:
            yield self._head
        async for chunk in self._chunks:
            self._count(len(chunk))
            yield chunk
