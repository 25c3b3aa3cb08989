"""Form fields: how one named input is read from the body, checked and shown again.

A field turns the raw values submitted under its name (strings, or uploads) into one typed
value, or raises ``Invalid`` with every message that applies. Fields are declared once on a
``Form`` class and shared by its instances; what was submitted lives on the form.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import uuid
from collections import UserString
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec

from bastion.http.uploads import UploadFile
from bastion.i18n import gettext as _
from bastion.i18n import ngettext

if TYPE_CHECKING:
    from bastion.forms.form import Form

T = TypeVar("T")
Raw = Sequence["str | UploadFile"]
#: Labels and messages: a ``str``, or a lazy string (``lazy_gettext``) read when rendered.
Text = str | UserString
Validator = Callable[[Any], None]


class Invalid(Exception):
    """A value a field refuses; ``messages`` are shown next to the field."""

    def __init__(self, *messages: Text) -> None:
        self.messages = [str(m) for m in messages]
        super().__init__("; ".join(self.messages))


class Field(Generic[T]):
    """A named input cleaned to a ``T``. ``required=False`` fields clean a blank to None.

    ``validators`` are callables taking the cleaned value and raising ``Invalid``; ``attrs``
    are extra HTML attributes for the input (``{"placeholder": "…", "autocomplete": "…"}``).
    """

    widget: ClassVar[str] = "text"
    multiple: ClassVar[bool] = False
    #: Whether the submitted text is shown again after a failed post (never for passwords).
    redisplay: ClassVar[bool] = True

    def __init__(
        self,
        label: Text | None = None,
        *,
        required: bool = True,
        initial: Any = None,
        help: Text | None = None,
        widget: str | None = None,
        attrs: dict[str, Any] | None = None,
        validators: Sequence[Validator] = (),
    ) -> None:
        self.name = ""
        self._label = label
        self.required = required
        self.initial = initial
        self.help = help
        self.input_type = widget or self.widget
        self.validators = tuple(validators)
        self.attrs: dict[str, Any] = {**self.html_attrs(), **(attrs or {})}

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    @property
    def label(self) -> Text:
        if self._label is not None:
            return self._label
        return self.name.replace("_", " ").strip().capitalize()

    def html_attrs(self) -> dict[str, Any]:
        """HTML attributes the field's constraints imply (``maxlength``, ``min``…)."""
        return {}

    async def clean(self, raw: Raw, form: Form) -> T | None:
        """The typed value of what was submitted, or ``Invalid`` with every message."""
        text = self.text(raw)
        if text == "":
            if self.required:
                raise Invalid(_("This field is required."))
            return None
        value = self.convert(text)
        messages = self.check(value)
        for validator in self.validators:
            try:
                validator(value)
            except Invalid as exc:
                messages.extend(exc.messages)
        if messages:
            raise Invalid(*messages)
        return value

    def text(self, raw: Raw) -> str:
        """The last submitted string, stripped; an upload where text belongs is refused."""
        if not raw:
            return ""
        last = raw[-1]
        if isinstance(last, UploadFile):
            raise Invalid(_("Expected text, not a file."))
        return last.strip()

    def convert(self, text: str) -> T:
        """Text to value; raise ``Invalid`` when it is not one."""
        raise NotImplementedError

    def check(self, value: T) -> list[str]:
        """Messages for every constraint ``value`` breaks (empty when it keeps them all)."""
        return []

    def format(self, value: Any) -> str:
        """A value (initial, or from an instance) as the input's text."""
        return "" if value is None else str(value)

    def keys(self, value: Any) -> list[str]:
        """A value as the list of submitted strings that would select it (multi-valued)."""
        return [] if value is None else [self.format(value)]


class StringField(Field[str]):
    """One line of text; ``pattern`` is a regular expression the whole value must match."""

    def __init__(
        self,
        label: Text | None = None,
        *,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        strip: bool = True,
        **options: Any,
    ) -> None:
        self.min_length, self.max_length, self.strip = min_length, max_length, strip
        self.pattern = re.compile(pattern) if pattern is not None else None
        super().__init__(label, **options)

    def html_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.max_length is not None:
            attrs["maxlength"] = self.max_length
        if self.min_length is not None:
            attrs["minlength"] = self.min_length
        if self.pattern is not None:
            attrs["pattern"] = self.pattern.pattern
        return attrs

    def text(self, raw: Raw) -> str:
        if self.strip:
            return super().text(raw)
        if raw and isinstance(raw[-1], str):
            return raw[-1]
        return super().text(raw)

    def convert(self, text: str) -> str:
        if "\x00" in text:
            raise Invalid(_("Enter text without NUL characters."))
        return text

    def check(self, value: str) -> list[str]:
        messages = []
        if self.min_length is not None and len(value) < self.min_length:
            messages.append(
                ngettext(
                    "Enter at least %(num)d character.",
                    "Enter at least %(num)d characters.",
                    self.min_length,
                )
                % {"num": self.min_length}
            )
        if self.max_length is not None and len(value) > self.max_length:
            messages.append(
                ngettext(
                    "Enter at most %(num)d character.",
                    "Enter at most %(num)d characters.",
                    self.max_length,
                )
                % {"num": self.max_length}
            )
        if self.pattern is not None and not self.pattern.fullmatch(value):
            messages.append(_("Enter a value in the expected format."))
        return messages


class TextField(StringField):
    """Several lines of text (a ``<textarea>``)."""

    widget = "textarea"


class PasswordField(StringField):
    """A password: never stripped, never sent back to the page."""

    widget = "password"
    redisplay = False

    def __init__(self, label: Text | None = None, **options: Any) -> None:
        options.setdefault("strip", False)
        super().__init__(label, **options)


class HiddenField(StringField):
    widget = "hidden"


_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


class EmailField(StringField):
    """An e-mail address of the shape ``name@domain.tld`` (deliverability is not checked)."""

    widget = "email"

    def __init__(self, label: Text | None = None, **options: Any) -> None:
        options.setdefault("max_length", 254)
        super().__init__(label, **options)

    def check(self, value: str) -> list[str]:
        messages = super().check(value)
        if not _EMAIL.fullmatch(value):
            messages.append(_("Enter a valid email address."))
        return messages


class URLField(StringField):
    """An absolute ``http``/``https`` URL."""

    widget = "url"

    def check(self, value: str) -> list[str]:
        messages = super().check(value)
        scheme, _sep, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
            messages.append(_("Enter a valid URL starting with http:// or https://."))
        return messages


class _Bounded(Field[T]):
    """A value with optional ``min_value`` / ``max_value`` (numbers, dates, times)."""

    def __init__(
        self,
        label: Text | None = None,
        *,
        min_value: Any = None,
        max_value: Any = None,
        **options: Any,
    ) -> None:
        self.min_value, self.max_value = min_value, max_value
        super().__init__(label, **options)

    def html_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.min_value is not None:
            attrs["min"] = self.format(self.min_value)
        if self.max_value is not None:
            attrs["max"] = self.format(self.max_value)
        return attrs

    def check(self, value: T) -> list[str]:
        messages = []
        if self.min_value is not None and value < self.min_value:
            messages.append(
                _("Enter a value greater than or equal to %(min)s.")
                % {"min": self.format(self.min_value)}
            )
        if self.max_value is not None and value > self.max_value:
            messages.append(
                _("Enter a value less than or equal to %(max)s.")
                % {"max": self.format(self.max_value)}
            )
        return messages


class IntegerField(_Bounded[int]):
    widget = "number"

    def convert(self, text: str) -> int:
        if not re.fullmatch(r"[+-]?[0-9]{1,30}", text):
            raise Invalid(_("Enter a whole number."))
        return int(text)


class FloatField(_Bounded[float]):
    widget = "number"

    def html_attrs(self) -> dict[str, Any]:
        return {"step": "any", **super().html_attrs()}

    def convert(self, text: str) -> float:
        try:
            value = float(text) if len(text) <= 100 else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise Invalid(_("Enter a number."))
        return value


class DecimalField(_Bounded[decimal.Decimal]):
    """An exact number; ``max_digits`` and ``decimal_places`` mirror a ``Numeric`` column."""

    widget = "number"

    def __init__(
        self,
        label: Text | None = None,
        *,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        **options: Any,
    ) -> None:
        self.max_digits, self.decimal_places = max_digits, decimal_places
        super().__init__(label, **options)

    def html_attrs(self) -> dict[str, Any]:
        step = (
            "any"
            if self.decimal_places is None
            else str(decimal.Decimal(1).scaleb(-self.decimal_places))
        )
        return {"step": step, **super().html_attrs()}

    def convert(self, text: str) -> decimal.Decimal:
        try:
            value = decimal.Decimal(text) if len(text) <= 100 else decimal.Decimal("NaN")
        except decimal.InvalidOperation:
            value = decimal.Decimal("NaN")
        if not value.is_finite():
            raise Invalid(_("Enter a number."))
        return value

    def check(self, value: decimal.Decimal) -> list[str]:
        messages = super().check(value)
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        digits = len(value.as_tuple().digits) - places
        if self.decimal_places is not None and places > self.decimal_places:
            messages.append(
                ngettext(
                    "Enter at most %(num)d digit after the decimal point.",
                    "Enter at most %(num)d digits after the decimal point.",
                    self.decimal_places,
                )
                % {"num": self.decimal_places}
            )
        whole = None if self.max_digits is None else self.max_digits - (self.decimal_places or 0)
        if whole is not None and digits > whole and value != 0:
            messages.append(
                ngettext(
                    "Enter at most %(num)d digit before the decimal point.",
                    "Enter at most %(num)d digits before the decimal point.",
                    whole,
                )
                % {"num": whole}
            )
        return messages


class BooleanField(Field[bool]):
    """A checkbox: a browser sends nothing for an unticked box, so absence means False.
    ``required=True`` means the box must be ticked (terms of service)."""

    widget = "checkbox"
    _FALSE = frozenset({"", "0", "false", "off", "no"})

    def __init__(
        self, label: Text | None = None, *, required: bool = False, **options: Any
    ) -> None:
        super().__init__(label, required=required, **options)

    async def clean(self, raw: Raw, form: Form) -> bool:
        value = self.text(raw).lower() not in self._FALSE
        if self.required and not value:
            raise Invalid(_("Tick this box to continue."))
        return value

    def format(self, value: Any) -> str:
        return "on" if value else ""


class DateField(_Bounded[datetime.date]):
    widget = "date"

    def convert(self, text: str) -> datetime.date:
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise Invalid(_("Enter a valid date (YYYY-MM-DD).")) from None

    def format(self, value: Any) -> str:
        if isinstance(value, datetime.datetime):
            value = value.date()
        return value.isoformat() if isinstance(value, datetime.date) else super().format(value)


class DateTimeField(_Bounded[datetime.datetime]):
    """A local date and time (``datetime-local``); with ``timezone`` the value is read in
    that zone and returned aware, and aware initial values are shown in it."""

    widget = "datetime-local"

    def __init__(
        self, label: Text | None = None, *, timezone: datetime.tzinfo | None = None, **options: Any
    ) -> None:
        self.timezone = timezone
        super().__init__(label, **options)

    def convert(self, text: str) -> datetime.datetime:
        try:
            value = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise Invalid(_("Enter a valid date and time.")) from None
        if self.timezone is not None:
            if value.tzinfo is None:
                value = value.replace(tzinfo=self.timezone)
        elif value.tzinfo is not None:
            raise Invalid(_("Enter a date and time without a time zone."))
        return value

    def format(self, value: Any) -> str:
        if not isinstance(value, datetime.datetime):
            return super().format(value)
        moment: datetime.datetime = value
        if moment.tzinfo is not None and self.timezone is not None:
            moment = moment.astimezone(self.timezone)
        moment = moment.replace(tzinfo=None, microsecond=0)
        return moment.isoformat(timespec="seconds" if moment.second else "minutes")


class TimeField(_Bounded[datetime.time]):
    widget = "time"

    def convert(self, text: str) -> datetime.time:
        try:
            return datetime.time.fromisoformat(text)
        except ValueError:
            raise Invalid(_("Enter a valid time (HH:MM).")) from None

    def format(self, value: Any) -> str:
        if isinstance(value, datetime.time):
            return value.replace(microsecond=0).isoformat(
                timespec="seconds" if value.second else "minutes"
            )
        return super().format(value)


class UUIDField(Field[uuid.UUID]):
    def convert(self, text: str) -> uuid.UUID:
        try:
            return uuid.UUID(text) if len(text) <= 45 else uuid.UUID("bad")
        except ValueError:
            raise Invalid(_("Enter a valid UUID.")) from None


class JSONField(Field[Any]):
    """A JSON document typed into a textarea; blank is None (or refused when required)."""

    widget = "textarea"

    def convert(self, text: str) -> Any:
        try:
            return msgspec.json.decode(text)
        except (msgspec.DecodeError, RecursionError):
            raise Invalid(_("Enter valid JSON.")) from None

    def format(self, value: Any) -> str:
        if value is None:
            return ""
        try:
            return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()
        except (TypeError, msgspec.EncodeError):
            return str(value)


class FileField(Field[UploadFile]):
    """An uploaded file (the form must be sent as ``multipart/form-data``: ``form.enctype``).

    ``accept`` lists media types (``image/*``, ``application/pdf``) or extensions (``.csv``);
    ``max_size`` is in bytes; ``many=True`` takes every file and cleans to a list.
    """

    widget = "file"
    redisplay = False

    def __init__(
        self,
        label: Text | None = None,
        *,
        accept: Sequence[str] = (),
        max_size: int | None = None,
        many: bool = False,
        **options: Any,
    ) -> None:
        self.accept = tuple(a.lower() for a in accept)
        self.max_size, self.many = max_size, many
        super().__init__(label, **options)

    def html_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        if self.accept:
            attrs["accept"] = ",".join(self.accept)
        if self.many:
            attrs["multiple"] = True
        return attrs

    async def clean(self, raw: Raw, form: Form) -> Any:
        files: list[UploadFile] = []
        for value in raw:
            if isinstance(value, str):
                if value:
                    raise Invalid(_("Send the form as multipart/form-data to upload a file."))
                continue
            if value.filename or value.size:  # an empty part: no file was chosen
                files.append(value)
        if not files:
            if self.required:
                raise Invalid(_("Choose a file."))
            return [] if self.many else None
        messages: list[str] = []
        for upload in files:
            messages.extend(self.check(upload))
        if messages:
            raise Invalid(*messages)
        return files if self.many else files[-1]

    def check(self, value: UploadFile) -> list[str]:
        messages = []
        name = value.filename or ""
        if self.max_size is not None and value.size > self.max_size:
            messages.append(
                _("%(name)s is too large (%(size)s bytes); the limit is %(limit)s bytes.")
                % {"name": name, "size": value.size, "limit": self.max_size}
            )
        if self.accept and not any(_accepts(rule, value) for rule in self.accept):
            messages.append(
                _("%(name)s is not an accepted file type (%(types)s).")
                % {"name": name, "types": ", ".join(self.accept)}
            )
        return messages


def _accepts(rule: str, upload: UploadFile) -> bool:
    if rule.startswith("."):
        return (upload.filename or "").lower().endswith(rule)
    media = upload.content_type.split(";", 1)[0].strip().lower()
    if rule.endswith("/*"):
        return media.startswith(rule[:-1])
    return media == rule
