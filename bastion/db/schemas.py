"""msgspec types derived from a model, so a CRUD API needs no hand-written twin schemas.

``schemas_for(Book)`` gives three Structs: ``read`` (every column), ``create`` (without
read-only columns: the primary key, server-generated values), and ``update`` (the create
fields, all optional, for PATCH). ``include`` / ``exclude`` narrow every one of them.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ColumnProperty

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


@dataclass(frozen=True)
class _Column:
    name: str
    python_type: Any
    nullable: bool
    generated: bool  # primary key with autoincrement, or a server/client default
    max_length: int | None


def _columns(model: type[Any]) -> list[_Column]:
    mapper = sa_inspect(model)
    result = []
    for prop in mapper.column_attrs:
        if not isinstance(prop, ColumnProperty) or len(prop.columns) != 1:
            continue
        column = prop.columns[0]
        try:
            python_type: Any = column.type.python_type
        except NotImplementedError:
            python_type = _FALLBACK.get(type(column.type).__name__.upper(), Any)
        generated = bool(
            (column.primary_key and column.autoincrement in (True, "auto") and python_type is int)
            or column.server_default is not None
            or column.default is not None
        )
        result.append(
            _Column(
                prop.key,
                python_type,
                bool(column.nullable),
                generated,
                getattr(column.type, "length", None),
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

    def field(column: _Column, optional: bool) -> tuple[Any, ...]:
        tp = column.python_type
        if column.max_length is not None and tp is str:
            tp = Annotated[str, msgspec.Meta(max_length=column.max_length)]
        if column.nullable and tp is not Any:
            tp = tp | None
        if optional:  # PATCH: a field left out is UNSET, which differs from an explicit null
            return (column.name, tp | msgspec.UnsetType, msgspec.UNSET)
        if column.nullable:
            return (column.name, tp, None)
        return (column.name, tp)

    def ordered(fields: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [f for f in fields if len(f) == 2] + [f for f in fields if len(f) == 3]

    name = model.__name__
    read = msgspec.defstruct(name, ordered([field(c, False) for c in wanted]))
    create = msgspec.defstruct(f"New{name}", ordered([field(c, False) for c in writable]))
    update = msgspec.defstruct(f"{name}Patch", [field(c, True) for c in writable])
    return ModelSchemas(read, create, update)


def given_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually sent (UNSET ones left out)."""
    return {
        name: value
        for name, value in msgspec.structs.asdict(patch).items()
        if value is not msgspec.UNSET
    }
