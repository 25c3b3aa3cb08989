"""HTTP headers and query parameters as read-only multi-dicts over the raw ASGI lists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

RawHeaders = list[tuple[bytes, bytes]]


def raw_header(headers: RawHeaders, name: bytes) -> bytes | None:
    """The first value of ``name`` (lower-case bytes) in raw ASGI headers, without building a
    ``Headers``: for middleware on the hot path that needs one header."""
    for key, value in headers:
        if key == name:
            return value
    return None


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only view of request headers; the first value wins on ``[]``."""

    __slots__ = ("_dict", "raw")

    def __init__(self, raw: RawHeaders) -> None:
        self.raw = raw
        self._dict: dict[str, str] | None = None

    def _lookup(self) -> dict[str, str]:
        if self._dict is None:
            d: dict[str, str] = {}
            for key, value in self.raw:
                d.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
            self._dict = d
        return self._dict

    def __getitem__(self, key: str) -> str:
        return self._lookup()[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def getlist(self, key: str) -> list[str]:
        """Every value of a repeated header, in order."""
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.raw if k.lower() == name]

    def __repr__(self) -> str:
        return f"Headers({self._lookup()!r})"


class MutableHeaders:
    """Response headers: a thin editable view over the response's raw header list."""

    __slots__ = ("raw",)

    def __init__(self, raw: RawHeaders) -> None:
        self.raw = raw

    def __getitem__(self, key: str) -> str:
        name = key.lower().encode("latin-1")
        for k, v in self.raw:
            if k == name:
                return v.decode("latin-1")
        raise KeyError(key)

    def get(self, key: str, default: str | None = None) -> str | None:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: str) -> bool:
        name = key.lower().encode("latin-1")
        return any(k == name for k, _ in self.raw)

    def __setitem__(self, key: str, value: str) -> None:
        """Replace every value of ``key`` with one."""
        name = key.lower().encode("latin-1")
        self.raw[:] = [(k, v) for k, v in self.raw if k != name]
        self.raw.append((name, value.encode("latin-1")))

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self.raw[:] = [(k, v) for k, v in self.raw if k != name]

    def append(self, key: str, value: str) -> None:
        """Add a value without removing others (``set-cookie``, ``vary``)."""
        self.raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))

    def getlist(self, key: str) -> list[str]:
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.raw if k == name]

    def items(self) -> list[tuple[str, str]]:
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw]

    def __repr__(self) -> str:
        return f"MutableHeaders({self.items()!r})"


class QueryParams(Mapping[str, str]):
    """Parsed query string; ``[]`` gives the last value, ``getlist`` all of them."""

    __slots__ = ("_multi",)

    def __init__(self, query_string: bytes | str) -> None:
        self._multi = parse_query(query_string)

    def __getitem__(self, key: str) -> str:
        return self._multi[key][-1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._multi)

    def __len__(self) -> int:
        return len(self._multi)

    def getlist(self, key: str) -> list[str]:
        return list(self._multi.get(key, ()))

    def get(self, key: str, default: Any = None) -> Any:
        values = self._multi.get(key)
        return values[-1] if values else default

    def multi_items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, vs in self._multi.items() for v in vs]

    def __repr__(self) -> str:
        return f"QueryParams({self.multi_items()!r})"


def parse_query(query_string: bytes | str) -> dict[str, list[str]]:
    """``a=1&a=2&b`` → ``{"a": ["1", "2"], "b": [""]}``; percent-decoding only where needed.

    Raw bytes are UTF-8 as much as percent-escapes are (``curl '/?q=é'`` sends them
    unescaped), so either kind that is not valid UTF-8 raises ``UnicodeDecodeError``.
    """
    if isinstance(query_string, bytes):
        query_string = query_string.decode("utf-8")
    result: dict[str, list[str]] = {}
    if not query_string:
        return result
    for pair in query_string.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key, errors="strict")
        if "%" in value or "+" in value:
            value = unquote_plus(value, errors="strict")
        if key in result:
            result[key].append(value)
        else:
            result[key] = [value]
    return result
