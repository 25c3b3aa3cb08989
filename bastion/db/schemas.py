"""msgspec types derived from a model, so a CRUD API needs no hand-written twin schemas.

``schemas_for(Book)`` gives three Structs: ``read`` (every column), ``create`` (without
read-only columns: a generated primary key, values the database computes, columns the
application maintains such as ``Timestamps``), and ``update`` (the create fields, all
optional, for PATCH). A column with a default is an optional create field: left out, the
default applies. ``include`` / ``exclude`` narrow every one of them. Integers are bounded by
their column type, so a value no column can hold is refused as bad input.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from sqlalchemy import BigInteger, Column, Integer, SmallInteger, TypeDecorator
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ColumnProperty
from sqlalchemy.types import TypeEngine

from bastion.db.model import READ_ONLY_KEY
from bastion.exceptions import ConfigurationError

_FALLBACK = {
    "DATETIME": datetime.datetime,
    "DATE": datetime.date,
    "UUID": uuid.UUID,
    "NUMERIC": decimal.Decimal,
    "JSON": Any,
}


@dataclass(frozen=True)
class ModelSchemas:
    read: type[msgspec.Struct]
    create: type[msgspec.Struct]
    update: type[msgspec.Struct]


#: A column default with nothing to show: the create field is optional, left out when absent.
_ABSENT = msgspec.UNSET


@dataclass(frozen=True)
class _Column:
    name: str
    python_type: Any
    nullable: bool
    generated: bool  # never written by clients: see _is_generated
    default: Any  # msgspec.NODEFAULT: none; _ABSENT: the database's or a function's; a value
    max_length: int | None
    bounds: tuple[int, int] | None


def integer_range(type_: TypeEngine[Any]) -> tuple[int, int] | None:
    """The integers a column of this type holds on every database: SQL's SMALLINT (16
    bits), INTEGER (32) and BIGINT (64), as PostgreSQL enforces them. SQLite stores 64 bits
    in any of them, but an API that accepted more there would break when moved."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    if not isinstance(type_, Integer):
        return None
    bits = 16 if isinstance(type_, SmallInteger) else 64 if isinstance(type_, BigInteger) else 32
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _is_generated(column: Column[Any], python_type: Any) -> bool:
    """A generated primary key, a value the database computes, or one the application
    maintains (an ``onupdate``, the mixins' timestamps)."""
    return bool(
        (column.primary_key and (column.default is not None or column.server_default is not None))
        or (column.primary_key and column.autoincrement in (True, "auto") and python_type is int)
        or column.computed is not None
        or column.identity is not None
        or column.onupdate is not None
        or column.server_onupdate is not None
        or column.info.get(READ_ONLY_KEY)
    )


def _default_of(column: Column[Any]) -> Any:
    default: Any = column.default
    if default is not None and getattr(default, "is_scalar", False):
        return default.arg
    if default is not None or column.server_default is not None:
        return _ABSENT
    return msgspec.NODEFAULT


def _columns(model: type[Any]) -> list[_Column]:
    mapper = sa_inspect(model)
    result = []
    for prop in mapper.column_attrs:
        if not isinstance(prop, ColumnProperty) or len(prop.columns) != 1:
            continue
        column = prop.columns[0]
        if not isinstance(column, Column):
            continue
        try:
            python_type: Any = column.type.python_type
        except NotImplementedError:
            python_type = _FALLBACK.get(type(column.type).__name__.upper(), Any)
        result.append(
            _Column(
                prop.key,
                python_type,
                bool(column.nullable),
                _is_generated(column, python_type),
                _default_of(column),
                getattr(column.type, "length", None),
                integer_range(column.type) if python_type is int else None,
            )
        )
    return result


def schemas_for(
    model: type[Any],
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    read_only: Iterable[str] = (),
) -> ModelSchemas:
    """Read, create and update Structs for ``model`` (named ``<Model>``, ``New<Model>``,
    ``<Model>Patch`` in OpenAPI)."""
    columns = _columns(model)
    known = {c.name for c in columns}
    for name in [*(include or ()), *exclude, *read_only]:
        if name not in known:
            raise ConfigurationError(
                f"schemas_for({model.__name__}): no column {name!r}; columns: "
                f"{', '.join(sorted(known))}"
            )
    wanted = [
        c
        for c in columns
        if (include is None or c.name in set(include)) and c.name not in set(exclude)
    ]
    fixed = set(read_only)
    writable = [c for c in wanted if not c.generated and c.name not in fixed]

    def field(column: _Column, kind: str) -> tuple[Any, ...]:
        tp = column.python_type
        if column.max_length is not None and tp is str:
            tp = Annotated[str, msgspec.Meta(max_length=column.max_length)]
        if column.bounds is not None and kind != "read":
            tp = Annotated[int, msgspec.Meta(ge=column.bounds[0], le=column.bounds[1])]
        if column.nullable and tp is not Any:
            tp = tp | None
        if kind == "update":  # a field left out is UNSET, which differs from an explicit null
            return (column.name, tp | msgspec.UnsetType, msgspec.UNSET)
        if kind == "create" and column.default is _ABSENT:  # the default applies when absent
            return (column.name, tp | msgspec.UnsetType, msgspec.UNSET)
        if kind == "create" and column.default is not msgspec.NODEFAULT:
            return (column.name, tp, column.default)
        if column.nullable:
            return (column.name, tp, None)
        return (column.name, tp)

    def ordered(fields: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [f for f in fields if len(f) == 2] + [f for f in fields if len(f) == 3]

    name = model.__name__
    read = msgspec.defstruct(name, ordered([field(c, "read") for c in wanted]))
    create = msgspec.defstruct(f"New{name}", ordered([field(c, "create") for c in writable]))
    update = msgspec.defstruct(f"{name}Patch", [field(c, "update") for c in writable])
    return ModelSchemas(read, create, update)


def given_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a body actually sent (UNSET ones left out: PATCH leaves them as they are,
    a create lets their defaults apply)."""
    return {
        name: value
        for name, value in msgspec.structs.asdict(patch).items()
        if value is not msgspec.UNSET
    }
