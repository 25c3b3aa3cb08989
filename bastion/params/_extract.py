"""Extractors for path, query, header and cookie values, chosen per parameter at start-up.

msgspec is the authority on conversion and its messages; common cases (a plain string, a
non-negative integer within its bounds) take a fast path that gives the same result, and
anything else (errors included) falls through to msgspec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin

import msgspec

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.params import _types as t
from bastion.params._errors import InvalidParam, from_msgspec, missing
from bastion.params.markers import Param

SyncStep = Callable[[Request], Any]
Lookup = Callable[[Request], "list[str] | None"]


def target_type(base: Any, marker: Param | None) -> Any:
    """The annotation with the marker's constraints attached as ``msgspec.Meta``, where msgspec
    applies them: inside ``T | None`` (a union cannot carry them) and, on a sequence, the
    lengths on the sequence and the value constraints (ge, pattern...) on each item."""
    if marker is None or (not marker.constraints and marker.description is None):
        return base
    return _constrained(base, dict(marker.constraints), marker.description)


def sent_type(base: Any, marker: Param | None) -> Any:
    """What a path/query/header/cookie value must convert to once it is sent: ``T | None``
    means "may be absent", so a sent value is a ``T`` (``?n=null`` is no integer)."""
    return t.strip_optional(target_type(base, marker))[0]


def check_constraints(base: Any, marker: Param, context: str) -> None:
    """Fail at start-up when a marker's constraints cannot apply to the type."""
    if not marker.constraints:
        return
    try:
        msgspec.inspect.type_info(target_type(base, marker))
    except (TypeError, ValueError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in marker.constraints.items())
        reason = str(exc).partition(" - type ")[0]
        raise ConfigurationError(
            f"{context}: {type(marker).__name__}({given}) cannot apply to "
            f"{t.type_name(base)} ({reason}). min_length/max_length bound strings, bytes and "
            "lists (the number of values); gt/ge/lt/le/multiple_of bound int and float; "
            "pattern matches strings. Change the annotation or drop the constraint"
        ) from None


_LENGTHS = ("min_length", "max_length")


def _constrained(tp: Any, constraints: dict[str, Any], description: str | None) -> Any:
    inner, optional = t.strip_optional(tp)
    if optional:
        return _constrained(inner, constraints, description) | None
    item = t.sequence_item(inner)
    if item is not None:
        each = {k: v for k, v in constraints.items() if k not in _LENGTHS}
        if each:
            constraints = {k: v for k, v in constraints.items() if k in _LENGTHS}
            inner = _with_items(inner, each)
    if not constraints and description is None:
        return inner
    return Annotated[inner, msgspec.Meta(description=description, **constraints)]


def _with_items(sequence: Any, constraints: dict[str, Any]) -> Any:
    """``list[int]`` with ``ge=1`` → ``list[Annotated[int, Meta(ge=1)]]`` (set, tuple alike)."""
    origin, args = get_origin(sequence), get_args(sequence)
    if not args:
        return origin[_constrained(str, constraints, None)]
    if origin is tuple and args[-1] is not Ellipsis:
        return tuple[tuple(_constrained(a, constraints, None) for a in args)]  # type: ignore[misc]
    return origin[(_constrained(args[0], constraints, None), *args[1:])]


def converter(target: Any, field: str) -> Callable[[Any], Any]:
    """Convert a raw (string) value to ``target``, raising ``InvalidParam`` naming ``field``."""
    # A one-field Struct lets msgspec cache the type's validation plan across calls.
    holder: Any = None

    def convert(raw: Any) -> Any:
        nonlocal holder
        if holder is None:
            holder = msgspec.defstruct("Holder", [("v", target)])
        try:
            return msgspec.convert({"v": raw}, holder, strict=False).v
        except msgspec.ValidationError as exc:
            raise InvalidParam([from_msgspec(field, str(exc), ".v", target)]) from None

    base, _ = t.strip_optional(t.strip_annotated(target)[0])
    constraints = _bounds(target)
    if base is int and constraints is not None:
        low, high = constraints

        def convert_int(raw: Any) -> Any:
            # Up to 18 digits: int() is exact and cheap; longer (even 5,000 digits, which
            # int() refuses with ValueError) goes through msgspec and its range check.
            if type(raw) is str and len(raw) <= 18 and raw.isdigit() and raw.isascii():
                value = int(raw)
                if low <= value <= high:
                    return value
            return convert(raw)

        return convert_int
    return convert


def _bounds(target: Any) -> tuple[float, float] | None:
    """Inclusive integer bounds when the only constraints are ge/gt/le/lt, else None."""
    _, extras = t.strip_annotated(target)
    low, high = float("-inf"), float("inf")
    for meta in extras:
        if not isinstance(meta, msgspec.Meta):
            continue
        extra = {
            k
            for k in ("multiple_of", "min_length", "max_length", "pattern")
            if getattr(meta, k) is not None
        }
        if extra:
            return None
        if meta.ge is not None:
            low = max(low, meta.ge)
        if meta.gt is not None:
            low = max(low, meta.gt + 1)
        if meta.le is not None:
            high = min(high, meta.le)
        if meta.lt is not None:
            high = min(high, meta.lt - 1)
    return low, high


def _query(wire: str) -> Lookup:
    def lookup(request: Request) -> list[str] | None:
        return request.query_params._multi.get(wire)

    return lookup


def _header(wire: str) -> Lookup:
    def lookup(request: Request) -> list[str] | None:
        return request.headers.getlist(wire) or None

    return lookup


def _cookie(wire: str) -> Lookup:
    def lookup(request: Request) -> list[str] | None:
        value = request.cookies.get(wire)
        return None if value is None else [value]

    return lookup


LOOKUPS: dict[str, Callable[[str], Lookup]] = {
    "query": _query,
    "header": _header,
    "cookie": _cookie,
}


def sync_step(
    name: str,
    location: str,
    wire: str,
    base: Any,
    marker: Param | None,
    required: bool,
    default: Any,
    path_types: dict[str, Any],
) -> SyncStep:
    """The extractor for one path/query/header/cookie parameter."""
    field = f"{location}.{wire}"
    convert = converter(sent_type(base, marker), field)

    if location == "path":
        if marker is None and path_types.get(name) is base:
            return lambda request: request.path_params[name]  # the router converted it
        return lambda request: convert(request.path_params[name])

    lookup = LOOKUPS[location](wire)
    plain = marker is None and t.strip_optional(base)[0] is str

    if t.sequence_item(base) is not None:

        def extract_list(request: Request) -> Any:
            values = lookup(request)
            if values is None:
                if required:
                    raise missing(field)
                return default
            return convert(values)

        return extract_list

    if plain:

        def extract_str(request: Request) -> Any:
            values = lookup(request)
            if values is None:
                if required:
                    raise missing(field)
                return default
            return values[-1]

        return extract_str

    def extract(request: Request) -> Any:
        values = lookup(request)
        if values is None:
            if required:
                raise missing(field)
            return default
        return convert(values[-1])

    return extract
