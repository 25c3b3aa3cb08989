"""Classify annotations once at start-up: scalar (query-able), structured (a body), or other."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import sys
import types
import typing
import uuid
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

_SCALARS = (
    str,
    int,
    float,
    bool,
    bytes,
    decimal.Decimal,
    uuid.UUID,
    datetime.date,
    datetime.datetime,
    datetime.time,
    datetime.timedelta,
)
_SEQUENCES = (list, set, frozenset, tuple)


def strip_annotated(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[int, X, Y]`` → ``(int, (X, Y))``."""
    if get_origin(tp) is Annotated:
        base, *extras = get_args(tp)
        return base, tuple(extras)
    return tp, ()


def split_annotation(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """Like ``strip_annotated``, also for ``Annotated[int, Query(ge=1)] | None``, whose markers
    would otherwise be out of sight (and their constraints silently unenforced)."""
    base, extras = strip_annotated(tp)
    if extras:
        return base, extras
    inner, optional = strip_optional(base)
    inner, extras = strip_annotated(inner)
    if optional and extras:
        return inner | None, extras
    return base, ()


def strip_optional(tp: Any) -> tuple[Any, bool]:
    """``int | None`` → ``(int, True)``."""
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != len(get_args(tp)):
            inner = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
            return inner, True
    return tp, False


def is_scalar(tp: Any) -> bool:
    tp, _ = strip_optional(strip_annotated(tp)[0])
    tp = strip_annotated(tp)[0]
    if get_origin(tp) is Literal:
        return True
    if get_origin(tp) in (Union, types.UnionType):
        return all(is_scalar(a) for a in get_args(tp))
    return isinstance(tp, type) and (issubclass(tp, _SCALARS) or issubclass(tp, enum.Enum))


def sequence_item(tp: Any) -> Any | None:
    """The item type of ``list[int]`` (and set/tuple/frozenset), else None."""
    tp = strip_optional(strip_annotated(tp)[0])[0]
    if get_origin(tp) in _SEQUENCES:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return args[0] if args else str
    return None


def is_pydantic_model(tp: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def is_structured(tp: Any) -> bool:
    """Types that arrive as a JSON object: Struct, dataclass, TypedDict, pydantic, dict."""
    tp = strip_optional(strip_annotated(tp)[0])[0]
    tp = strip_annotated(tp)[0]
    item = sequence_item(tp)
    if item is not None:
        return is_structured(item)
    if get_origin(tp) is dict or tp is dict:
        return True
    if not isinstance(tp, type):
        return False
    return (
        issubclass(tp, msgspec.Struct)
        or dataclasses.is_dataclass(tp)
        or typing.is_typeddict(tp)
        or is_pydantic_model(tp)
    )


def type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def is_upload(tp: Any) -> bool:
    """``UploadFile``, optionally in a list or Optional: a multipart file parameter."""
    from bastion.http.uploads import UploadFile

    item = sequence_item(tp)
    target = strip_optional(item if item is not None else tp)[0]
    return isinstance(target, type) and issubclass(target, UploadFile)
