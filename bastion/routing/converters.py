"""Path converters: turn one path segment (or the rest of the path) into a typed value.

``{id:int}`` uses ``IntConverter``. A converter rejects a segment by raising ``ValueError``,
which makes the router try the next candidate and finally answer 404, so ``/users/abc`` never
reaches a handler that wants an ``int``. Register your own with ``App(converters={...})``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar


class Converter:
    """Base converter: ``convert`` parses (or raises ``ValueError``), ``to_string`` formats."""

    type: ClassVar[Any] = str
    #: True for a converter that takes the rest of the path, slashes included.
    matches_rest: ClassVar[bool] = False
    #: JSON Schema of the converted value, for OpenAPI.
    schema: ClassVar[dict[str, Any]] = {"type": "string"}

    def convert(self, value: str) -> Any:
        if not value:
            raise ValueError("empty segment")
        return value

    def to_string(self, value: Any) -> str:
        return str(value)


class StrConverter(Converter):
    """Any non-empty segment without a slash (the default)."""


class IntConverter(Converter):
    type = int
    schema = {"type": "integer"}

    def convert(self, value: str) -> int:
        if not value.isdigit() or not value.isascii():
            raise ValueError(value)
        return int(value)


class FloatConverter(Converter):
    type = float
    schema = {"type": "number"}
    _pattern = re.compile(r"-?\d+(\.\d+)?")

    def convert(self, value: str) -> float:
        if not self._pattern.fullmatch(value):
            raise ValueError(value)
        return float(value)


class UUIDConverter(Converter):
    type = uuid.UUID
    schema = {"type": "string", "format": "uuid"}

    def convert(self, value: str) -> uuid.UUID:
        if len(value) not in (32, 36):
            raise ValueError(value)
        return uuid.UUID(value)


class SlugConverter(Converter):
    """Letters, digits, ``-`` and ``_``: the shape of human-readable identifiers."""

    schema = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}
    _pattern = re.compile(r"[-a-zA-Z0-9_]+")

    def convert(self, value: str) -> str:
        if not self._pattern.fullmatch(value):
            raise ValueError(value)
        return value


class PathConverter(Converter):
    """The rest of the path, slashes included (``/files/{name:path}``)."""

    matches_rest = True


DEFAULT_CONVERTERS: dict[str, Converter] = {
    "str": StrConverter(),
    "int": IntConverter(),
    "float": FloatConverter(),
    "uuid": UUIDConverter(),
    "slug": SlugConverter(),
    "path": PathConverter(),
}

#: A parameter declared without a converter gets one from its annotation.
CONVERTER_FOR_TYPE: dict[Any, str] = {int: "int", float: "float", uuid.UUID: "uuid", str: "str"}
