"""Form: declared fields bound to a request, validated all at once, shown again with errors.

    class Signup(Form):
        email = EmailField(lazy_gettext("Email"))
        terms = BooleanField(lazy_gettext("I accept the terms"), required=True)

    form = await Signup.bind(request)          # POST: read the body, clean every field
    if not form.is_valid:                      # the page again, with the values and messages
        return templates.render(request, "signup.html", {"form": form},
                                status_code=form.status_code)

``Signup.blank(request)`` makes the unbound form for the GET that shows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from markupsafe import Markup

from bastion.exceptions import ConfigurationError
from bastion.forms.choices import ChoiceField, FormContext, Option
from bastion.forms.fields import Field, FileField, Invalid, Text
from bastion.http.forms import FormData
from bastion.http.uploads import UploadFile

if TYPE_CHECKING:
    from bastion.http.request import Request

S = TypeVar("S")
Submitted = FormData | Mapping[str, "str | UploadFile | Sequence[str | UploadFile]"]


class BoundField:
    """One field of one form, as a template reads it: value to show, options, errors."""

    __slots__ = ("field", "form")

    def __init__(self, form: Form, field: Field[Any]) -> None:
        self.form, self.field = form, field

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def id(self) -> str:
        return f"{self.form.prefix}{self.field.name}"

    @property
    def label(self) -> Text:
        return self.field.label

    @property
    def help(self) -> Text | None:
        return self.field.help

    @property
    def widget(self) -> str:
        return self.field.input_type

    @property
    def required(self) -> bool:
        return self.field.required

    @property
    def multiple(self) -> bool:
        return self.field.multiple or bool(self.field.attrs.get("multiple"))

    @property
    def attrs(self) -> dict[str, Any]:
        return self.field.attrs

    @property
    def errors(self) -> list[str]:
        return self.form.errors.get(self.field.name, [])

    @property
    def values(self) -> list[str]:
        """The strings to show selected/filled: what was submitted, else the initial value."""
        field = self.field
        if not field.redisplay:
            return []
        if self.form.is_bound:
            return [v for v in self.form.raw(field.name) if isinstance(v, str)]
        return field.keys(self.form.initial.get(field.name))

    @property
    def value(self) -> str:
        values = self.values
        return values[-1] if values else ""

    @property
    def checked(self) -> bool:
        """A checkbox's state: ticked in the submission, else in the initial value."""
        if self.form.is_bound:
            return bool(self.value) and self.value.lower() not in ("0", "false", "off", "no")
        return bool(self.form.initial.get(self.field.name))

    @property
    def choices(self) -> list[tuple[str, str, bool]]:
        """``(value, label, selected)`` for each option of a choice field."""
        field = self.field
        if not isinstance(field, ChoiceField):
            return []
        selected = set(self.values)
        return [
            (key, str(label), key in selected)
            for key, label in (
                (field.option_key(v), label) for v, label in self.form.options(field.name)
            )
        ]

    def __html__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"<BoundField {self.name} value={self.value!r} errors={self.errors}>"


class Form:
    """Base of form classes; fields are the ``Field`` class attributes, in order.

    ``data`` holds the cleaned value of every valid field, ``errors`` the messages of the
    others (field name to list), ``form_errors`` those about the whole form. Override
    ``check`` for rules across fields (it runs after the fields, with ``add_error``).
    """

    declared: ClassVar[dict[str, Field[Any]]] = {}
    #: Prepended to input ids (two forms on one page).
    prefix: ClassVar[str] = "id_"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, Field[Any]] = {}
        for base in reversed(cls.__mro__[1:]):
            declared.update(getattr(base, "declared", {}))
        taken = reserved_names(cls.__mro__[1])
        for name, value in list(vars(cls).items()):
            if isinstance(value, Field):
                if name in taken:
                    raise ConfigurationError(
                        f"{cls.__name__}.{name}: the name is taken by {cls.__mro__[1].__name__} "
                        "itself; rename the field"
                    )
                declared[value.name or name] = value
        cls.declared = declared

    def __init__(
        self,
        data: Submitted | None = None,
        *,
        initial: Mapping[str, Any] | None = None,
        instance: Any = None,
        request: Request | None = None,
    ) -> None:
        self.is_bound = data is not None
        self._raw = _normalise(data) if data is not None else {}
        self.instance = instance
        self.request = request
        self.initial: dict[str, Any] = {
            name: field.initial
            for name, field in self.declared.items()
            if field.initial is not None
        }
        self._given_initial = dict(initial or {})
        self.initial.update(self._given_initial)
        self.data: dict[str, Any] = {}
        self.errors: dict[str, list[str]] = {}
        self.form_errors: list[str] = []
        self._options: dict[str, list[Option]] = {}
        self._prepared = False
        self._validated = False

    # Making one

    @classmethod
    async def blank(
        cls,
        request: Request | None = None,
        *,
        initial: Mapping[str, Any] | None = None,
        instance: Any = None,
        session: Any = None,
    ) -> Self:
        """The unbound form (for the GET that shows it), with initial values from
        ``instance`` attributes then ``initial``, and choices loaded (with ``session``)."""
        form = cls(initial=initial, instance=instance, request=request)
        await form.prepare(session)
        return form

    @classmethod
    async def bind(
        cls,
        request: Request,
        *,
        initial: Mapping[str, Any] | None = None,
        instance: Any = None,
        session: Any = None,
    ) -> Self:
        """The form bound to the request's body (URL-encoded or multipart), validated; for a
        GET or HEAD (a search form), to its query string.

        An unreadable body is the request's usual 4xx (400, 413, 415), never a 500."""
        data: Submitted
        if request.method in ("GET", "HEAD"):
            query: dict[str, list[str | UploadFile]] = {}
            for key, value in request.query_params.multi_items():
                query.setdefault(key, []).append(value)
            data = query
        else:
            data = await request.form()
        form = cls(data, initial=initial, instance=instance, request=request)
        await form.validate(session)
        return form

    async def prepare(self, session: Any = None) -> None:
        """Load choices and the instance's initial values (``blank``/``bind`` do it)."""
        if self._prepared:
            return
        self._prepared = True
        ctx = FormContext(self, self.request, session)
        await self.load_instance(ctx)
        if self.instance is not None:
            for name in self.declared:
                if name not in self._given_initial:
                    self.initial[name] = getattr(self.instance, name, self.initial.get(name))
        for name, field in self.declared.items():
            if isinstance(field, ChoiceField):
                self._options[name] = await field.options(ctx)

    async def load_instance(self, ctx: FormContext) -> None:
        """Hook: make the instance's attributes readable without I/O (model forms)."""

    async def validate(self, session: Any = None) -> bool:
        """Clean every field, collecting every message, then run ``check``."""
        await self.prepare(session)
        if not self.is_bound:
            raise ConfigurationError(
                f"{type(self).__name__}.validate(): the form is not bound to submitted data; "
                f"make it with {type(self).__name__}.bind(request) or {type(self).__name__}(data)"
            )
        self._validated = True
        self.data, self.errors, self.form_errors = {}, {}, []
        for name, field in self.declared.items():
            try:
                self.data[name] = await field.clean(self._raw.get(name, ()), self)
            except Invalid as exc:
                self.errors[name] = exc.messages
        await self.check()
        return self.is_valid

    async def check(self) -> None:
        """Override for rules across fields; ``self.data`` holds the valid fields' values."""

    def add_error(self, field: str | None, message: Text) -> None:
        """Report ``message`` next to ``field`` (None: about the whole form)."""
        if field is None:
            self.form_errors.append(str(message))
            return
        if field not in self.declared:
            raise ConfigurationError(
                f"{type(self).__name__}.add_error({field!r}, ...): no such field; use one of "
                f"{', '.join(self.declared)} or None for the whole form"
            )
        self.errors.setdefault(field, []).append(str(message))
        self.data.pop(field, None)

    # Reading it

    @property
    def is_valid(self) -> bool:
        return self._validated and not self.errors and not self.form_errors

    @property
    def status_code(self) -> int:
        """422 for a submitted form with errors (render the page again with it), else 200."""
        return 422 if self._validated and not self.is_valid else 200

    @property
    def fields(self) -> list[BoundField]:
        return [BoundField(self, field) for field in self.declared.values()]

    def __getitem__(self, name: str) -> BoundField:
        field = self.declared.get(name)
        if field is None:
            raise KeyError(
                f"{type(self).__name__} has no field {name!r}; it has {', '.join(self.declared)}"
            )
        return BoundField(self, field)

    def __iter__(self) -> Iterator[BoundField]:
        return iter(self.fields)

    @property
    def enctype(self) -> str:
        if any(isinstance(f, FileField) for f in self.declared.values()):
            return "multipart/form-data"
        return "application/x-www-form-urlencoded"

    @property
    def csrf_input(self) -> Markup:
        """The hidden CSRF input when the request passes through the CSRF middleware."""
        if self.request is None or "bastion.csrf" not in self.request.scope:
            return Markup("")
        from bastion.security.csrf import csrf_input

        return csrf_input(self.request)

    def raw(self, name: str) -> Sequence[str | UploadFile]:
        """What was submitted under ``name`` (every value, in order)."""
        return self._raw.get(name, ())

    def options(self, name: str) -> list[Option]:
        """The ``(value, label)`` options of choice field ``name`` for this form."""
        if name not in self._options:
            field = self.declared[name]
            if isinstance(field, ChoiceField) and not callable(field.choices):
                self._options[name] = list(field.choices)
            else:
                return []
        return self._options[name]

    def apply(self, target: S) -> S:
        """Set the cleaned values on ``target`` as attributes; returns it."""
        for name, value in self.data.items():
            setattr(target, name, value)
        return target

    def to(self, kind: type[S]) -> S:
        """The cleaned data as a typed object, e.g. a ``msgspec.Struct`` or dataclass."""
        import msgspec

        return msgspec.convert(self.data, kind, from_attributes=True, strict=False)

    def __repr__(self) -> str:
        state = "valid" if self.is_valid else ("invalid" if self._validated else "unbound")
        return f"<{type(self).__name__} {state} errors={self.errors}>"


#: Attributes every form has on its instances (besides its class's).
_INSTANCE_NAMES = frozenset(
    {"data", "errors", "form_errors", "initial", "instance", "request", "is_bound", "_raw"}
    | {"_given_initial", "_options", "_prepared", "_validated"}
)


def reserved_names(base: type) -> frozenset[str]:
    """Names a field of a subclass of ``base`` cannot take: its methods, properties and
    class attributes (fields excepted), and what its instances set."""
    names = set(_INSTANCE_NAMES)
    for klass in base.__mro__:
        names.update(n for n, v in vars(klass).items() if not isinstance(v, Field))
        names.update(vars(klass).get("__annotations__", {}))
    return frozenset(n for n in names if not n.startswith("__"))


def _normalise(data: Submitted) -> dict[str, list[str | UploadFile]]:
    if isinstance(data, FormData):
        items = data.multi_items()
    else:
        items = []
        for key, value in data.items():
            if isinstance(value, str | UploadFile):
                items.append((key, value))
            else:
                items.extend((key, v) for v in value)
    raw: dict[str, list[str | UploadFile]] = {}
    for key, value in items:
        raw.setdefault(key, []).append(value)
    return raw
