"""Request bodies: JSON (msgspec or pydantic), form fields, uploads, whole forms as structs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import msgspec.inspect

from bastion.exceptions import (
    ConfigurationError,
    MalformedBody,
    UnsupportedMediaType,
    ValidationError,
)
from bastion.http.headers import raw_header
from bastion.http.request import Request
from bastion.params import _types as t
from bastion.params._errors import from_msgspec, from_pydantic
from bastion.params._extract import target_type
from bastion.params.markers import Param

AsyncStep = Callable[[Request], Awaitable[Any]]


_JSON_TYPES = ("application/json", "")


def _content_type(request: Request) -> str:
    value = raw_header(request.scope["headers"], b"content-type")
    return "" if value is None else value.decode("latin-1").partition(";")[0].strip().lower()


def body_step(
    location: str,
    wire: str,
    base: Any,
    marker: Param | None,
    required: bool,
    default: Any,
    context: str,
    is_upload: bool,
) -> AsyncStep:
    if location == "form":
        return _form_step(wire, base, marker, required, default, is_upload)
    model = t.strip_optional(base)[0]
    decode = (
        _pydantic_decoder(model)
        if t.is_pydantic_model(model)
        else _msgspec_decoder(target_type(base, marker), base, context)
    )

    async def extract_body(request: Request) -> Any:
        content_type = _content_type(request)
        if content_type not in _JSON_TYPES and not content_type.endswith("+json"):
            raise UnsupportedMediaType(
                f"Expected a JSON body (Content-Type: application/json), got {content_type!r}"
            )
        body = await request.body()
        if not body:
            if required:
                raise ValidationError([{"field": "body", "reason": "A JSON body is required"}])
            return default
        return decode(body)

    return extract_body


def _msgspec_decoder(target: Any, base: Any, context: str) -> Callable[[bytes], Any]:
    try:
        decoder = msgspec.json.Decoder(target)
    except TypeError as exc:
        raise ConfigurationError(f"{context}: cannot decode a body as {base!r}: {exc}") from None

    def decode(body: bytes) -> Any:
        try:
            return decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise ValidationError([from_msgspec("body", str(exc))]) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise MalformedBody(
                f"The body is not valid JSON: {exc}",
                extra={"errors": [{"field": "body", "reason": str(exc)}]},
            ) from None

    return decode


def _pydantic_decoder(model: Any) -> Callable[[bytes], Any]:
    import pydantic

    def decode(body: bytes) -> Any:
        try:
            return model.model_validate_json(body)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
            if any(e.get("type") == "json_invalid" for e in errors):
                raise MalformedBody("The body is not valid JSON") from None
            raise ValidationError(from_pydantic("body", [dict(e) for e in errors])) from None

    return decode


def _form_step(
    wire: str, base: Any, marker: Param | None, required: bool, default: Any, upload: bool
) -> AsyncStep:
    """A form field, an uploaded file, or a whole struct bound from the form."""
    target = target_type(base, marker)
    whole = t.is_structured(base)
    many = t.sequence_item(base) is not None
    checkboxes = _bool_fields(base) if whole else frozenset()
    checkbox = not whole and _is_bool(_type_info(base))

    async def extract_form(request: Request) -> Any:
        form = await request.form()
        if whole:
            data = {k: (v if len(v) > 1 else v[0]) for k, v in _grouped(form).items()}
            for name in checkboxes:
                if data.get(name) == CHECKED:
                    data[name] = True
            try:
                return msgspec.convert(data, target, strict=False)
            except msgspec.ValidationError as exc:
                raise ValidationError([from_msgspec("form", str(exc))]) from None
        values = form.getlist(wire)
        if not values:
            if required:
                raise ValidationError([{"field": f"form.{wire}", "reason": "Field required"}])
            return default
        value = values if many else values[-1]
        if upload:
            return value
        if checkbox and value == CHECKED:
            return True
        try:
            return msgspec.convert(value, target, strict=False)
        except msgspec.ValidationError as exc:
            raise ValidationError([from_msgspec(f"form.{wire}", str(exc))]) from None

    return extract_form


#: What a checked HTML checkbox without a ``value`` attribute sends (an unchecked one sends
#: nothing, so a ``bool`` field with a default reads False).
CHECKED = "on"


def _bool_fields(base: Any) -> frozenset[str]:
    """The form names of a struct's (dataclass's, TypedDict's) boolean fields."""
    fields = getattr(_type_info(base), "fields", ())
    return frozenset(field.encode_name for field in fields if _is_bool(field.type))


def _type_info(base: Any) -> Any:
    try:
        return msgspec.inspect.type_info(base)
    except (TypeError, ValueError):  # a type msgspec does not know: no checkbox in it
        return None


def _is_bool(info: Any) -> bool:
    """``bool`` or ``bool | None``, however constrained."""
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = [kind for kind in info.types if not isinstance(kind, msgspec.inspect.NoneType)]
        return len(kinds) == 1 and isinstance(kinds[0], msgspec.inspect.BoolType)
    return isinstance(info, msgspec.inspect.BoolType)


def _grouped(form: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for key, value in form.multi_items():
        grouped.setdefault(key, []).append(value)
    return grouped
