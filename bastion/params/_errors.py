"""Validation failures as entries people can read and programs can act on.

Each entry names the field (``body.tags[1]``, ``query.limit``) and says what is wrong with
it (``_reasons``); a JSON body's entries also carry ``pointer``, an RFC 6901 JSON Pointer.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from typing import Any, get_args, get_origin

from bastion.exceptions import FieldError, ValidationError
from bastion.i18n import gettext
from bastion.params import _types as t
from bastion.params._reasons import describe, pydantic_reason, required

Part = str | int


class InvalidParam(ValidationError):
    """Raised by an extractor; the plan gathers these into one ``ValidationError`` (and one
    that escapes ungathered is still a 422 naming its fields)."""


_FIELD = re.compile(r"Object (missing required|contains unknown) field `(.*)`")
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


def from_msgspec(
    location: str, message: str, strip: str = "", root: Any = None, prefix: Sequence[Part] = ()
) -> FieldError:
    """``Expected `int` >= 1 - at `$[2]``` under ``query.ids`` → ``query.ids[2]``: must be at
    least 1. ``prefix`` is where the failing value sits; ``root`` its type (for the choices of
    an enum); ``strip`` drops a wrapper's own step (``.v``) from msgspec's path."""
    reason, sep, where = message.rpartition(" - at `")
    if not sep:
        reason, where = message, "$`"
    key = where.startswith("key` in `")
    if key:
        where = where[len("key` in `") :]
    path = where[1:-1]  # drop "$" and the closing backtick
    if strip and path.startswith(strip):
        path = path[len(strip) :]
    parts: list[Part] = [*prefix, *_parts(path)]
    named = _FIELD.fullmatch(reason)
    if named:
        parts.append(named.group(2))
    error = describe(reason, type_at(root, parts[len(prefix) :]) if root is not None else None)
    if key:
        error["reason"] = gettext("each key %(reason)s", reason=error["reason"])
    return place(location, parts, error)


def place(location: str, parts: Sequence[Part], error: dict[str, Any]) -> FieldError:
    """Put a described error at ``location`` + ``parts`` (``body.tags[1]``, pointer ``/tags/1``)."""
    field = location + "".join(
        f"[{p}]" if isinstance(p, int) or p == "..." else f".{p}" for p in parts
    )
    entry: dict[str, Any] = {"field": field, **error}
    if location == "body" and "..." not in parts:
        entry["pointer"] = "".join(
            "/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts
        )
    return typing.cast(FieldError, entry)


def _parts(path: str) -> list[Part]:
    parts: list[Part] = []
    for name, index in _PART.findall(path):
        parts.append(name if name else (int(index) if index.isdigit() else index))
    return parts


def type_at(root: Any, parts: Sequence[Part]) -> Any:
    """The annotation found by following ``parts`` into ``root`` (None where it is lost)."""
    tp = root
    for part in parts:
        tp = t.strip_optional(t.strip_annotated(tp)[0])[0]
        tp = t.strip_annotated(tp)[0]
        if isinstance(part, int):
            item = t.sequence_item(tp)
            if item is None:
                return None
            tp = item
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1] if get_args(tp) else None
        else:
            tp = _field_type(tp, part)
        if tp is None:
            return None
    return tp


def _field_type(cls: Any, name: str) -> Any:
    import msgspec.inspect

    try:
        info = msgspec.inspect.type_info(cls)
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:  # not a class with fields, or hints that do not resolve
        return None
    for field in getattr(info, "fields", ()):
        if field.encode_name == name:
            return strip_required(hints.get(field.name))
    return None


def strip_required(tp: Any) -> Any:
    """A TypedDict's ``NotRequired[int]`` → ``int``."""
    if get_origin(tp) in (typing.Required, typing.NotRequired):
        return get_args(tp)[0]
    return tp


def from_pydantic(location: str, errors: list[dict[str, Any]]) -> list[FieldError]:
    """pydantic's errors with their ``loc`` as ``body.tags[2]`` and the same sentences."""
    result: list[FieldError] = []
    for error in errors:
        parts: list[Part] = [p for p in error.get("loc", ()) if isinstance(p, int | str)]
        result.append(place(location, parts, pydantic_reason(error)))
    return result


def missing(field: str) -> InvalidParam:
    return InvalidParam([place(field, (), required())])
