"""Forms generated from SQLAlchemy models: ``model_form(Article, fields=[...])``.

Each column becomes the field its type calls for (length limits, integer ranges, enums as
selects, dates, JSON); nullable or defaulted columns are optional; foreign keys become a
select of the target table's rows and many-to-many relationships a multi-select, both loaded
with the ``session=`` given to ``blank``/``bind``. Decided once, when the class is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import inspect
from sqlalchemy.orm import Mapper, RelationshipProperty

from bastion.exceptions import ConfigurationError
from bastion.forms.choices import (
    ChoiceField,
    FormContext,
    ModelChoiceField,
    ModelMultipleChoiceField,
)
from bastion.forms.fields import (
    BooleanField,
    DateField,
    DateTimeField,
    DecimalField,
    Field,
    FloatField,
    IntegerField,
    JSONField,
    StringField,
    Text,
    TextField,
    TimeField,
    UUIDField,
)
from bastion.forms.form import Form, reserved_names
from bastion.i18n import gettext as _

#: ``Column.info`` key of columns the application maintains (never in a form).
READ_ONLY_KEY = "bastion.read_only"
_INT_RANGES = {
    sa.SmallInteger: (-(2**15), 2**15 - 1),
    sa.BigInteger: (-(2**63), 2**63 - 1),
    sa.Integer: (-(2**31), 2**31 - 1),
}


class ModelForm(Form):
    """A form for one model; ``await form.save(session)`` writes the cleaned data to a row."""

    model: ClassVar[type[Any]]
    #: NOT NULL columns with a default: left blank, they keep the row's value (or the default).
    keep_when_blank: ClassVar[frozenset[str]] = frozenset()
    #: Fields of single-column unique constraints, checked against the table by ``validate``.
    unique_fields: ClassVar[frozenset[str]] = frozenset()

    async def load_instance(self, ctx: FormContext) -> None:
        """Load the instance's many-to-many collections, which async code cannot lazy-load."""
        if self.instance is None or ctx.session is None:
            return
        state = inspect(self.instance)
        wanted = [
            name
            for name, field in self.declared.items()
            if isinstance(field, ModelMultipleChoiceField) and name in state.unloaded
        ]
        if wanted and state.persistent:
            await ctx.session.refresh(self.instance, wanted)

    async def validate(self, session: Any = None) -> bool:
        """The fields and ``check``, then unique columns against the table (with a session):
        a value another row holds is a message on the page, not a 409 at commit."""
        await super().validate(session)
        if session is not None:
            for name in self.unique_fields:
                value = self.data.get(name)
                if value is not None and await self._taken(session, name, value):
                    self.add_error(name, _("This value is already in use."))
        return self.is_valid

    async def _taken(self, session: Any, name: str, value: Any) -> bool:
        mapper: Mapper[Any] = inspect(self.model)
        query = sa.select(self.model).where(getattr(self.model, name) == value)
        if self.instance is not None and inspect(self.instance).persistent:
            for column in mapper.primary_key:
                key = mapper.get_property_by_column(column).key
                query = query.where(getattr(self.model, key) != getattr(self.instance, key))
        return bool(await session.scalar(sa.select(query.exists())))

    async def save(self, session: Any, instance: Any = None) -> Any:
        """The instance (``instance``, the form's, or a new one) with the cleaned data set,
        added to ``session`` (commit is yours)."""
        if not self.is_valid:
            raise ConfigurationError(
                f"{type(self).__name__}.save(): the form is not valid; check form.is_valid "
                "and render the page again with the errors"
            )
        target = instance if instance is not None else self.instance
        if target is None:
            target = self.model()
        for name, value in self.data.items():
            if value is not None or name not in self.keep_when_blank:
                setattr(target, name, value)
        session.add(target)
        self.instance = target
        return target


def model_form(
    model: type[Any],
    *,
    fields: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    labels: Mapping[str, Text] | None = None,
    help: Mapping[str, Text] | None = None,
    overrides: Mapping[str, Field[Any]] | None = None,
    base: type[ModelForm] = ModelForm,
    name: str | None = None,
) -> type[ModelForm]:
    """A ``ModelForm`` class with a field per column (and many-to-many relationship) of
    ``model``: all editable ones, or ``fields`` in that order, minus ``exclude``.
    ``overrides`` replaces the generated field of a name (or adds one)."""
    mapper: Mapper[Any] = inspect(model)
    available = _available(mapper)
    overrides = dict(overrides or {})
    wanted = (
        list(fields)
        if fields is not None
        else [*available, *(n for n in overrides if n not in available)]
    )
    unknown = [n for n in [*wanted, *exclude] if n not in available and n not in overrides]
    if unknown:
        raise ConfigurationError(
            f"model_form({model.__name__}): no editable column or many-to-many relationship "
            f"named {', '.join(map(repr, unknown))}; choose among {', '.join(available)}"
        )
    clashes = [n for n in wanted if n not in exclude and n in reserved_names(base)]
    if clashes:
        raise ConfigurationError(
            f"model_form({model.__name__}): {', '.join(map(repr, clashes))} is the name of a "
            f"{base.__name__} attribute, so it cannot be a field; leave it out with "
            f"exclude={clashes!r}"
        )
    namespace: dict[str, Any] = {
        "model": model,
        "keep_when_blank": frozenset(),
        "unique_fields": frozenset(),
    }
    unique = _unique_columns(mapper)
    for field_name in wanted:
        if field_name in exclude:
            continue
        field = overrides.get(field_name) or _field_for(available[field_name], mapper)
        if labels and field_name in labels:
            field._label = labels[field_name]
        if help and field_name in help:
            field.help = help[field_name]
        namespace[field_name] = field
        source = available.get(field_name)
        if isinstance(source, sa.Column) and not source.nullable and _has_default(source):
            namespace["keep_when_blank"] |= {field_name}
        if isinstance(source, sa.Column) and source in unique:
            namespace["unique_fields"] |= {field_name}
    return type(name or f"{model.__name__}Form", (base,), namespace)


def _available(mapper: Mapper[Any]) -> dict[str, Any]:
    """Editable columns and many-to-many relationships, by attribute name, in order."""
    found: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        if len(attr.columns) != 1:
            continue
        column = attr.columns[0]
        if not isinstance(column, sa.Column) or column.info.get(READ_ONLY_KEY):
            continue
        if column.primary_key and (column.autoincrement is True or _auto_pk(column)):
            continue
        if column.computed is not None or column.identity is not None:
            continue
        found[attr.key] = column
    for rel in mapper.relationships:
        if rel.secondary is not None and not rel.viewonly:
            found[rel.key] = rel
    return found


def _auto_pk(column: sa.Column[Any]) -> bool:
    return (
        (
            column.autoincrement == "auto"
            and isinstance(column.type, sa.Integer)
            and not column.foreign_keys
            and len(column.table.primary_key.columns) == 1
        )
        or column.default is not None
        or column.server_default is not None
    )


def _field_for(source: Any, mapper: Mapper[Any]) -> Field[Any]:
    if isinstance(source, RelationshipProperty):
        return ModelMultipleChoiceField(source.mapper.class_, _label(source.key), required=False)
    column: sa.Column[Any] = source
    options: dict[str, Any] = {
        "label": column.info.get("label") or _label(column.key),
        "required": not (column.nullable or _has_default(column)),
        "help": column.info.get("help") or (str(column.doc) if column.doc else None),
    }
    if column.foreign_keys:
        target = _target_model(column, mapper)
        if target is not None:
            options["label"] = column.info.get("label") or _label(column.key.removesuffix("_id"))
            return ModelChoiceField(target, **options)
    kind = column.type
    if isinstance(kind, sa.Enum):
        choices: Any = (
            kind.enum_class if kind.enum_class is not None else [(v, v) for v in kind.enums]
        )
        return ChoiceField(choices=choices, **options)
    if isinstance(kind, sa.Boolean):
        options.pop("required")
        return BooleanField(**options)
    if isinstance(kind, sa.Integer):
        low, high = next(r for t, r in _INT_RANGES.items() if isinstance(kind, t))
        return IntegerField(min_value=low, max_value=high, **options)
    if isinstance(kind, sa.Float):
        return FloatField(**options)
    if isinstance(kind, sa.Numeric):
        return DecimalField(max_digits=kind.precision, decimal_places=kind.scale, **options)
    if isinstance(kind, sa.DateTime):
        import datetime

        return DateTimeField(timezone=datetime.UTC if kind.timezone else None, **options)
    if isinstance(kind, sa.Date):
        return DateField(**options)
    if isinstance(kind, sa.Time):
        return TimeField(**options)
    if isinstance(kind, sa.JSON):
        return JSONField(**options)
    if isinstance(kind, sa.Uuid):
        return UUIDField(**options)
    if isinstance(kind, sa.Text):
        return TextField(**options)
    if isinstance(kind, sa.String):
        return StringField(max_length=kind.length, **options)
    raise ConfigurationError(
        f"model_form: column {column.table.name}.{column.name} has type {kind!r}, which has no "
        f"form field; leave it out (exclude=[{column.key!r}]) or give one in overrides="
    )


def _unique_columns(mapper: Mapper[Any]) -> set[sa.Column[Any]]:
    """Columns unique on their own (``unique=True`` or a one-column UniqueConstraint)."""
    found: set[sa.Column[Any]] = set()
    table = mapper.local_table
    if isinstance(table, sa.Table):
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) == 1:
                found.update(constraint.columns)
        for index in table.indexes:
            if index.unique and len(index.columns) == 1:
                found.update(index.columns)
        found.update(c for c in table.columns if c.unique)
    return found


def _has_default(column: sa.Column[Any]) -> bool:
    return column.default is not None or column.server_default is not None


def _target_model(column: sa.Column[Any], mapper: Mapper[Any]) -> type[Any] | None:
    fk = next(iter(column.foreign_keys))
    for other in mapper.registry.mappers:
        if other.local_table is fk.column.table:
            return other.class_
    return None


def _label(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()
