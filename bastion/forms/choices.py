"""Fields choosing among options: fixed lists, enums, and rows of a table.

Options are ``(value, label)`` pairs, given as a list, an ``Enum`` class, or an async
loader ``async def load(ctx: FormContext) -> Sequence[tuple[value, label]]`` run when the
form is made (``Form.blank`` / ``Form.bind``), e.g. to read them from the database. A
submitted string selects the option whose value's text (an enum's ``.value``) it equals.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from bastion.forms.fields import Field, Invalid, Raw, Text
from bastion.http.uploads import UploadFile
from bastion.i18n import gettext as _

if TYPE_CHECKING:
    from bastion.forms.form import Form
    from bastion.http.request import Request

Option = tuple[Any, Text]
Loader = Callable[["FormContext"], Awaitable[Sequence[Option]]]
Choices = Sequence[Option] | type[enum.Enum] | Loader


@dataclass(frozen=True, slots=True)
class FormContext:
    """What a choices loader may use: the form, its request and the ``session=`` given."""

    form: Form
    request: Request | None
    session: Any


def key_of(value: Any) -> str:
    """The text a browser sends back for an option's value."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _enum_options(kind: type[enum.Enum]) -> list[Option]:
    def label(member: enum.Enum) -> str:
        text = member.value if isinstance(member.value, str) else member.name
        return text.replace("_", " ").capitalize()

    return [(member, label(member)) for member in kind]


class ChoiceField(Field[Any]):
    """One option out of ``choices`` (a ``<select>``; ``widget="radio"`` for radio buttons)."""

    widget = "select"

    def __init__(self, label: Text | None = None, *, choices: Choices, **options: Any) -> None:
        self.choices: Sequence[Option] | Loader = (
            _enum_options(choices)
            if isinstance(choices, type) and issubclass(choices, enum.Enum)
            else cast("Sequence[Option] | Loader", choices)
        )
        super().__init__(label, **options)

    async def options(self, ctx: FormContext) -> list[Option]:
        """The options for one form (loaders run once per form)."""
        if callable(self.choices):
            return list(await self.choices(ctx))
        return list(self.choices)

    async def clean(self, raw: Raw, form: Form) -> Any:
        text = self.text(raw)
        if text == "":
            if self.required:
                raise Invalid(_("Choose an option."))
            return None
        value = self.select(text, form)
        messages = self.check(value)
        for validator in self.validators:
            try:
                validator(value)
            except Invalid as exc:
                messages.extend(exc.messages)
        if messages:
            raise Invalid(*messages)
        return value

    def select(self, text: str, form: Form) -> Any:
        for value, _label in form.options(self.name):
            if self.option_key(value) == text:
                return value
        raise Invalid(_("Choose one of the options offered."))

    def option_key(self, value: Any) -> str:
        """The text a browser sends back for the option ``value``."""
        return key_of(value)

    def format(self, value: Any) -> str:
        return "" if value is None else self.option_key(value)


class MultipleChoiceField(ChoiceField):
    """Any number of options (``<select multiple>``; ``widget="checkboxes"`` for boxes).
    Cleans to a list; ``required`` means at least one."""

    multiple = True

    async def clean(self, raw: Raw, form: Form) -> list[Any]:
        texts: list[str] = []
        for item in raw:
            if isinstance(item, UploadFile):
                raise Invalid(_("Expected text, not a file."))
            if item.strip() and item.strip() not in texts:
                texts.append(item.strip())
        if not texts:
            if self.required:
                raise Invalid(_("Choose at least one option."))
            return []
        by_key = {self.option_key(value): value for value, _label in form.options(self.name)}
        unknown = [text for text in texts if text not in by_key]
        if unknown:
            raise Invalid(
                _("Choose among the options offered (%(values)s is not one).")
                % {"values": ", ".join(unknown[:5])}
            )
        values = [by_key[text] for text in texts]
        messages: list[str] = []
        for validator in self.validators:
            try:
                validator(values)
            except Invalid as exc:
                messages.extend(exc.messages)
        if messages:
            raise Invalid(*messages)
        return values

    def keys(self, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
            return [self.option_key(value)]
        return [self.option_key(v) for v in value]


class ModelChoiceField(ChoiceField):
    """A row of ``model``, chosen by primary key (a foreign key column's select).

    Options are ``select(model)`` (or ``query``) run on the form's ``session=``, labelled
    with ``label_of(row)`` (``str``). The cleaned value is the row's primary key, as the
    foreign key column holds it; ``rows=True`` cleans to the row itself.
    """

    def __init__(
        self,
        model: type,
        label: Text | None = None,
        *,
        query: Any = None,
        label_of: Callable[[Any], Text] = str,
        rows: bool = False,
        **options: Any,
    ) -> None:
        from sqlalchemy import inspect

        self.model, self.query, self.label_of, self.rows = model, query, label_of, rows
        mapper: Any = inspect(model)
        if len(mapper.primary_key) != 1:
            from bastion.exceptions import ConfigurationError

            raise ConfigurationError(
                f"{type(self).__name__}({model.__name__}): the model needs a single-column "
                "primary key to be chosen in a form"
            )
        self._pk = mapper.primary_key[0].key
        super().__init__(label, choices=self._load, **options)

    async def _load(self, ctx: FormContext) -> list[Option]:
        if ctx.session is None:
            from bastion.exceptions import ConfigurationError

            raise ConfigurationError(
                f"{type(ctx.form).__name__}.{self.name} loads its choices from the database: "
                f"pass session= to {type(ctx.form).__name__}.blank()/bind()/validate()"
            )
        from sqlalchemy import select

        query = self.query
        if query is None:
            query = select(self.model).order_by(getattr(self.model, self._pk))
        rows = (await ctx.session.scalars(query)).all()
        return [(row if self.rows else getattr(row, self._pk), self.label_of(row)) for row in rows]

    def option_key(self, value: Any) -> str:
        if isinstance(value, self.model):
            value = getattr(value, self._pk)
        return key_of(value)


class ModelMultipleChoiceField(MultipleChoiceField):
    """Rows of ``model`` (a many-to-many relationship's multi-select); cleans to the rows."""

    def __init__(
        self,
        model: type,
        label: Text | None = None,
        *,
        query: Any = None,
        label_of: Callable[[Any], Text] = str,
        **options: Any,
    ) -> None:
        self._rows_of = ModelChoiceField(model, query=query, label_of=label_of, rows=True)
        self.model = model
        super().__init__(label, choices=self._load, **options)

    @property
    def label_of(self) -> Callable[[Any], Text]:
        return self._rows_of.label_of

    @label_of.setter
    def label_of(self, label_of: Callable[[Any], Text]) -> None:
        self._rows_of.label_of = label_of

    @property
    def query(self) -> Any:
        return self._rows_of.query

    @query.setter
    def query(self, query: Any) -> None:
        self._rows_of.query = query

    async def _load(self, ctx: FormContext) -> list[Option]:
        self._rows_of.name = self.name
        return await self._rows_of._load(ctx)

    def option_key(self, value: Any) -> str:
        return self._rows_of.option_key(value)
