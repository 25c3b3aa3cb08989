"""What ``Prepared`` makes of a row, decided when the statement is built: read-only ORM
entities (with the to-one relationships their model joins), instances of a Struct or a
dataclass, and ``IN`` lists as PostgreSQL arrays.

Every shape works on plain column tuples, so a row read straight from asyncpg and a row read
through the session become the same objects.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import BinaryExpression, BindParameter, Select, all_, any_
from sqlalchemy import inspect as inspect_mapped
from sqlalchemy.orm import Mapper, RelationshipDirection, aliased
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import Tuple
from sqlalchemy.sql.visitors import iterate, replacement_traverse
from sqlalchemy.types import TypeEngine

Row = tuple[Any, ...]
Make = Callable[[Sequence[Any]], Any]


def has_entities(statement: Select[Any]) -> bool:
    return any(not isinstance(c["type"], TypeEngine) for c in statement.column_descriptions)


def entity_rows(statement: Select[Any]) -> tuple[Select[Any], Make]:
    """``select(Article, User.bio)`` as a select of columns, and what turns its rows back into
    ``(Article, bio)``. Each entity is a detached object (read-only: the session does not
    track it), with its model's ``lazy="joined"`` to-one relationships loaded by the same
    statement."""
    if statement._with_options:
        raise TypeError(
            "Prepared loads the to-one relationships a model declares lazy='joined', and takes "
            "no loader options: run a select with .options(...) through the session"
        )
    columns: list[Any] = []
    joins: list[tuple[Any, Any, bool]] = []
    parts: list[Make] = []
    for description in statement.column_descriptions:
        expression = description["expr"]
        if isinstance(description["type"], TypeEngine):
            parts.append(operator.itemgetter(len(columns)))
            columns.append(expression)
            continue
        mapper = _plain_mapper(expression)
        build = _entity(mapper, mapper.class_, columns)
        relations = []
        for relationship in mapper.relationships:
            if relationship.lazy != "joined" or relationship.uselist:
                continue
            if relationship.direction is not RelationshipDirection.MANYTOONE:
                continue
            target = aliased(_plain_mapper(relationship.mapper.class_).class_)
            joins.append(
                (
                    target,
                    getattr(expression, relationship.key).of_type(target),
                    relationship.innerjoin,
                )
            )
            relations.append((relationship.key, _entity(relationship.mapper, target, columns)))
        parts.append(_with_relations(build, relations))
    core = statement.with_only_columns(*columns, maintain_column_froms=True)
    for target, onclause, inner in joins:
        core = core.join(target, onclause, isouter=not inner)
    if len(parts) == 1:
        (only,) = parts
        return core, lambda row: (only(row),)
    return core, lambda row: tuple([part(row) for part in parts])


def _plain_mapper(expression: Any) -> Mapper[Any]:
    found = inspect_mapped(expression, raiseerr=False)
    if not isinstance(found, Mapper) or found.inherits or found.polymorphic_on is not None:
        raise TypeError(
            f"Prepared loads entities of plain mapped classes, not {expression!r} (an alias or "
            "an inheritance hierarchy): select its columns, or load it through the session"
        )
    return found


class _Built:
    """One entity's columns in the row: ``build(row)`` or None for an outer join's miss."""

    __slots__ = ("build", "key_at")

    def __init__(self, build: Make, key_at: int) -> None:
        self.build = build
        self.key_at = key_at


def _entity(mapper: Mapper[Any], source: Any, columns: list[Any]) -> _Built:
    """Adds the entity's loaded columns to ``columns`` and returns what builds it."""
    attributes = [prop for prop in mapper.column_attrs if not prop.deferred]
    keys = tuple(prop.key for prop in attributes)
    start = len(columns)
    columns.extend(getattr(source, key) for key in keys)
    stop = len(columns)
    primary = [start + keys.index(mapper.get_property_by_column(c).key) for c in mapper.primary_key]
    identity = operator.itemgetter(*primary)
    single = len(primary) == 1
    new = mapper.class_manager.new_instance
    loaded = mapper.class_manager.dispatch.load  # the model's "load" listeners, as the ORM's
    identity_class = mapper._identity_class

    def build(row: Sequence[Any]) -> Any:
        instance = new()
        instance.__dict__.update(zip(keys, row[start:stop], strict=True))
        key = identity(row)
        state = instance._sa_instance_state
        state.key = (identity_class, (key,) if single else key, None)
        if loaded:
            loaded(state, None)
        return instance

    return _Built(build, primary[0])


def _with_relations(entity: _Built, relations: list[tuple[str, _Built]]) -> Make:
    """The entity with its relations; None when an outer join found no row for it."""
    build, key_at = entity.build, entity.key_at
    if not relations:
        return lambda row: None if row[key_at] is None else build(row)

    def with_relations(row: Sequence[Any]) -> Any:
        if row[key_at] is None:
            return None
        instance = build(row)
        loaded = instance.__dict__
        for key, target in relations:
            loaded[key] = None if row[target.key_at] is None else target.build(row)
        return instance

    return with_relations


def names_of(statement: Select[Any]) -> list[str]:
    return list(statement.selected_columns.keys())


def into(cls: Any, names: Sequence[str]) -> Make:
    """What builds a ``cls`` (a msgspec Struct or a dataclass) from a row whose columns are
    ``names``: positionally when the columns cover its parameters, else by keyword."""
    if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
        fields = {f.name: f.required for f in msgspec.structs.fields(cls)}
    elif dataclasses.is_dataclass(cls) and isinstance(cls, type):
        fields = {
            f.name: f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            for f in dataclasses.fields(cls)
            if f.init
        }
    else:
        raise TypeError(f"Prepared(...).into() takes a msgspec Struct or a dataclass, not {cls!r}")
    unknown = [name for name in names if name not in fields]
    missing = [name for name, required in fields.items() if required and name not in names]
    if unknown or missing:
        raise TypeError(
            f"Prepared(...).into({cls.__name__}): the select's columns {list(names)} do not "
            f"match its fields {list(fields)} (no field for {unknown}, no column for {missing}); "
            "name the columns after the fields with .label('field')"
        )
    parameters = list(inspect.signature(cls).parameters.values())
    positional = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters) and [
        p.name for p in parameters
    ] == [name for name in fields if name in names]
    if positional:
        order = [names.index(p.name) for p in parameters]
        if order == list(range(len(names))):
            return lambda row: cls(*row)
        pick = operator.itemgetter(*order)
        if len(order) == 1:
            return lambda row: cls(pick(row))
        return lambda row: cls(*pick(row))
    keys = tuple(names)
    return lambda row: cls(**dict(zip(keys, row, strict=True)))


def arrays_for_in(statement: Select[Any]) -> Select[Any]:
    """``column IN (:values)`` as ``column = ANY(:values)`` (``NOT IN`` as ``<> ALL``) with
    the list bound as one array: the SQL no longer depends on how many values there are, so
    PostgreSQL prepares it once. An empty list matches nothing either way. A statement
    without such a list is returned as it is (a rewrite clones it)."""
    if not any(_in_list(element) for element in iterate(statement)):
        return statement

    def replace(element: Any, **_: Any) -> Any:
        if _in_list(element):
            array = element.right._clone()
            array.expanding = False
            array.type = _array_type()(element.left.type)
            if element.operator is operators.in_op:
                return element.left == any_(array)
            return element.left != all_(array)
        return None

    rewritten: Select[Any] = replacement_traverse(statement, {}, replace)  # type: ignore[assignment]
    return rewritten


def _in_list(element: Any) -> bool:
    """``column IN`` or ``NOT IN`` a list given when the statement runs."""
    return (
        isinstance(element, BinaryExpression)
        and element.operator in (operators.in_op, operators.not_in_op)
        and isinstance(element.right, BindParameter)
        and element.right.expanding
        and not isinstance(element.left, Tuple)
    )


@functools.cache
def _array_type() -> Any:
    """The array type, built on first use: importing SQLAlchemy's PostgreSQL dialect costs
    ~0.1 s at start-up, which SQLite apps and cold Lambdas should not pay."""
    from sqlalchemy.dialects.postgresql import ARRAY

    class _Array(ARRAY[Any]):
        """An array bound from any iterable of values (a set, a tuple, a generator's list)."""

        cache_ok = True

        def bind_processor(self, dialect: Any) -> Any:
            items = super().bind_processor(dialect)
            if items is None:
                return _as_list
            return lambda value: None if value is None else items(_as_list(value))

    return _Array


def _as_list(value: Any) -> Any:
    return value if value is None or isinstance(value, list) else list(value)
