"""``ModelAdmin``: what the admin shows of one model, checked and resolved once at
registration, so a misspelt column fails at start-up and requests only look names up."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from bastion.exceptions import ConfigurationError

ACTIONS = ("view", "add", "change", "delete")
#: Columns a row is named by when the registration gives no ``display``.
_NAMING = ("name", "title", "username", "email", "slug", "label")
_NAME = re.compile(r"[a-z][a-z0-9_]*")

ActionHandler = Callable[[AsyncSession, list[Any]], Awaitable[str | None]]


@dataclass(frozen=True)
class Action:
    """A bulk action on the selected rows; ``permission`` is the one it needs."""

    name: str
    label: str
    handler: ActionHandler
    permission: str = "change"


def action(
    label: str | None = None, *, permission: str = "change"
) -> Callable[[ActionHandler], Action]:
    """Turn ``async def publish(db, rows) -> str | None`` into a bulk action; the string it
    returns is shown to the user after the run."""
    if permission not in ACTIONS:
        raise ConfigurationError(f"action(permission={permission!r}): use one of {ACTIONS}")

    def decorator(handler: ActionHandler) -> Action:
        name = handler.__name__
        shown = label or name.replace("_", " ").capitalize()
        return Action(name, shown, handler, permission)

    return decorator


@dataclass(frozen=True)
class Column:
    """One column the admin can show, sort, filter or search, by its attribute key."""

    key: str
    label: str
    column: sa.Column[Any]
    kind: str  # bool, choices, date, datetime, fk, number, text, json
    target: type[Any] | None = None  # the model a foreign key points to
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Inline:
    """Rows of ``model`` whose ``fk`` column points at the edited object, listed on its page."""

    model: type[Any]
    fk: str
    fields: Sequence[str] = ()
    limit: int = 20


class ModelAdmin:
    """One registered model; see ``Admin.register`` for the options."""

    def __init__(
        self,
        model: type[Any],
        *,
        name: str | None = None,
        label: str | None = None,
        list_display: Sequence[str] = (),
        search: Sequence[str] = (),
        filters: Sequence[str] = (),
        ordering: Sequence[str] = (),
        readonly: Sequence[str] = (),
        fields: Sequence[str] | None = None,
        actions: Sequence[Action] = (),
        inlines: Sequence[Inline] = (),
        display: str | Callable[[Any], str] | None = None,
        per_page: int = 50,
    ) -> None:
        try:
            mapper: Mapper[Any] = sa.inspect(model)
        except sa.exc.NoInspectionAvailable:
            raise ConfigurationError(
                f"admin.register({model!r}): register a SQLAlchemy mapped class"
            ) from None
        self.model = model
        self.mapper = mapper
        self.table: sa.Table = mapper.local_table  # type: ignore[assignment]
        self.name = name or model.__name__.lower()
        if not _NAME.fullmatch(self.name):
            raise ConfigurationError(
                f"admin.register({model.__name__}, name={self.name!r}): name it with lowercase "
                "letters, digits and _"
            )
        self.label = label or _words(model.__name__)
        self.label_plural = plural(self.label)
        #: The create/edit form class (``bastion.forms.model_form``), set by ``Admin.register``.
        self.form: Any = None
        where = f"admin.register({model.__name__})"
        if len(mapper.primary_key) != 1:
            raise ConfigurationError(
                f"{where}: the admin needs a single-column primary key; "
                f"{model.__name__} has {len(mapper.primary_key)}"
            )
        self.pk: sa.Column[Any] = mapper.primary_key[0]  # type: ignore[assignment]
        self.pk_key = mapper.get_property_by_column(self.pk).key
        self.pk_type: type = _python_type(self.pk) or str
        self.columns: dict[str, Column] = {}
        for prop in mapper.column_attrs:
            mapped = prop.columns[0]
            if isinstance(mapped, sa.Column):
                self.columns[prop.key] = _describe(prop.key, mapped, mapper)
        self.relations = {
            rel.key: rel for rel in mapper.relationships if rel.direction.name == "MANYTOONE"
        }
        default_display = [k for k in self.columns if k != self.pk_key][:5]
        self.list_display = [self.column(n, where, "list_display") for n in list_display] or [
            self.columns[k] for k in default_display
        ]
        self.search = [self.column(n, where, "search") for n in search]
        for column in self.search:
            if column.kind not in ("text", "choices"):
                raise ConfigurationError(
                    f"{where}, search={column.key!r}: search looks in text columns; "
                    f"{column.key} is {column.kind}"
                )
        self.filters = [self.column(n, where, "filters") for n in filters]
        self.ordering: list[tuple[Column, bool]] = []
        for entry in ordering:
            descending = entry.startswith("-")
            self.ordering.append((self.column(entry.lstrip("-"), where, "ordering"), descending))
        self.readonly = {self.column(n, where, "readonly").key for n in readonly}
        #: Many-to-many relationships (through a secondary table): multi-selects in the form.
        self.many = [r.key for r in mapper.relationships if r.secondary is not None]
        if fields is not None:
            self.fields = [
                n if n in self.many else self.attribute(self.column(n, where, "fields"))
                for n in fields
            ]
        else:
            self.fields = [
                k
                for k, c in self.columns.items()
                if not (k == self.pk_key and c.column.autoincrement in (True, "auto"))
            ] + self.many
        for found in actions:
            if not isinstance(found, Action):
                raise ConfigurationError(
                    f"{where}, actions=[{found!r}]: decorate the function with @action()"
                )
        self.actions = {a.name: a for a in actions}
        self.inlines = list(inlines)
        for inline in self.inlines:
            columns = sa.inspect(inline.model).columns
            if inline.fk not in columns or not columns[inline.fk].foreign_keys:
                raise ConfigurationError(
                    f"{where}, Inline({inline.model.__name__}, fk={inline.fk!r}): name the "
                    f"foreign key column of {inline.model.__name__} that points here"
                )
        if isinstance(display, str):
            self.display_key: str | None = self.column(display, where, "display").key
            self.display_fn: Callable[[Any], str] | None = None
        elif callable(display):
            self.display_key, self.display_fn = None, display
        else:
            found_key = next((k for k in _NAMING if k in self.columns), None) or next(
                (k for k, c in self.columns.items() if c.kind == "text"), None
            )
            self.display_key, self.display_fn = found_key, None
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 500:
            raise ConfigurationError(f"{where}, per_page={per_page!r}: give 1 to 500")
        self.per_page = per_page

    def column(self, name: str, where: str, option: str) -> Column:
        """The column ``name`` means: an attribute, or a many-to-one relationship (its key)."""
        if name in self.columns:
            return self.columns[name]
        relation = self.relations.get(name)
        if relation is not None and len(relation.local_columns) == 1:
            local = next(iter(relation.local_columns))
            key = self.mapper.get_property_by_column(local).key
            found = self.columns[key]
            return Column(name, _words(name), found.column, found.kind, found.target)
        alias = self.columns.get(f"{name}_id")
        if alias is not None and alias.kind == "fk":  # "author" for the author_id column
            return Column(name, _words(name), alias.column, "fk", alias.target)
        known = ", ".join([*self.columns, *self.relations])
        raise ConfigurationError(
            f"{where}, {option}: {self.model.__name__} has no column {name!r} (it has {known})"
        )

    def attribute(self, column: Column) -> str:
        """The attribute holding ``column`` (``author_id`` for ``author``)."""
        return self.mapper.get_property_by_column(column.column).key

    def value(self, obj: Any, column: Column) -> Any:
        """The row's value of ``column`` (a relationship's foreign key for relationships)."""
        return getattr(obj, self.attribute(column))

    def repr(self, obj: Any) -> str:
        """How a row is named on pages and in the audit log."""
        if self.display_fn is not None:
            return str(self.display_fn(obj))[:255]
        if self.display_key is not None:
            value = getattr(obj, self.display_key, None)
            if value not in (None, ""):
                return str(value)[:255]
        return f"{self.label} {getattr(obj, self.pk_key)}"

    def parse_pk(self, raw: str) -> Any:
        """The primary key from a URL or form, or None when it cannot be one."""
        if len(raw) > 255:
            return None
        if self.pk_type is int:
            return int(raw) if re.fullmatch(r"-?\d{1,18}", raw) else None
        if self.pk_type is str:
            return raw
        try:
            return self.pk_type(raw)
        except (TypeError, ValueError):
            return None


def _describe(key: str, column: sa.Column[Any], mapper: Mapper[Any]) -> Column:
    label = str(column.info.get("label") or _words(key))
    if column.foreign_keys:
        target_table = next(iter(column.foreign_keys)).column.table
        target = next(
            (m.class_ for m in mapper.registry.mappers if m.local_table is target_table), None
        )
        return Column(key, label, column, "fk", target)
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return Column(key, label, column, "bool")
    if isinstance(kind, sa.Enum):
        enum_class = kind.enum_class
        if enum_class is not None and issubclass(enum_class, enum.Enum):
            pairs = tuple((m.name, str(m.value)) for m in enum_class)
        else:
            pairs = tuple((v, v) for v in kind.enums)
        return Column(key, label, column, "choices", None, pairs)
    if isinstance(kind, sa.DateTime):
        return Column(key, label, column, "datetime")
    if isinstance(kind, sa.Date):
        return Column(key, label, column, "date")
    if isinstance(kind, sa.JSON):
        return Column(key, label, column, "json")
    if isinstance(kind, sa.Integer | sa.Numeric | sa.Float):
        return Column(key, label, column, "number")
    if isinstance(kind, sa.String):
        return Column(key, label, column, "text")
    return Column(key, label, column, "other")


def _python_type(column: sa.Column[Any]) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _words(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    if spaced.endswith(" id"):
        spaced = spaced[:-3]
    return spaced[:1].upper() + spaced[1:].lower()


def plural(label: str) -> str:
    """``Article`` → ``Articles``; registrations can give their own label instead."""
    if label.endswith("y") and label[-2:-1] not in "aeiou":
        return label[:-1] + "ies"
    return label + ("es" if label.endswith(("s", "x", "ch", "sh")) else "s")
