"""Turn msgspec / pydantic validation messages into ``{"field", "reason"}`` entries."""

from __future__ import annotations

import re
from typing import Any

from bastion.exceptions import FieldError

_MISSING = re.compile(r"Object missing required field `([^`]*)`")


class InvalidParam(Exception):
    """Raised by an extractor; the plan gathers these into one ``ValidationError``."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors


def from_msgspec(location: str, message: str, strip: str = "") -> FieldError:
    """``Expected `int` >= 1 - at `$[2]``` under ``query.ids`` → ``query.ids[2]``."""
    reason, sep, where = message.rpartition(" - at `")
    if not sep:
        reason, where = message, "$`"
    path = where[1:-1]  # drop "$" and the closing backtick
    if strip and path.startswith(strip):
        path = path[len(strip) :]
    missing = _MISSING.fullmatch(reason)
    if missing:
        path += "." + missing.group(1)
        reason = "Field required"
    return {"field": location + path, "reason": reason}


def from_pydantic(location: str, errors: list[dict[str, Any]]) -> list[FieldError]:
    """pydantic's ``loc`` tuples → ``body.tags[2]``-style fields."""
    result: list[FieldError] = []
    for error in errors:
        field = location
        for part in error.get("loc", ()):
            field += f"[{part}]" if isinstance(part, int) else f".{part}"
        result.append({"field": field, "reason": str(error.get("msg", "invalid"))})
    return result


def missing(field: str) -> InvalidParam:
    return InvalidParam([{"field": field, "reason": "Field required"}])
