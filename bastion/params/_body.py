"""Request bodies: JSON (msgspec or pydantic), form fields, uploads, whole forms as structs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import msgspec.inspect

from bastion.exceptions import (
    ConfigurationError,
    FieldError,
    MalformedBody,
    UnsupportedMediaType,
)
from bastion.http.headers import raw_header
from bastion.http.negotiation import Negotiation
from bastion.http.request import Request
from bastion.http.uploads import UploadFile
from bastion.params import _types as t
from bastion.params._collect import Node, build, form_check, json_check
from bastion.params._errors import InvalidParam, from_msgspec, from_pydantic, missing, place
from bastion.params._extract import target_type
from bastion.params._reasons import required as required_error
from bastion.params._reasons import wrong_type
from bastion.params.markers import Param

AsyncStep = Callable[[Request], Awaitable[Any]]


def _media_type(request: Request) -> str | None:
    """The request's media type (``application/json``), None when it sent no Content-Type."""
    value = raw_header(request.scope["headers"], b"content-type")
    return None if value is None else value.decode("latin-1").partition(";")[0].strip().lower()


def _is_json(media: str) -> bool:
    """``application/json`` or a JSON-based ``application/*+json`` (merge-patch, problem...)."""
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _not_json(request: Request) -> UnsupportedMediaType:
    value = raw_header(request.scope["headers"], b"content-type")
    sent = "no Content-Type" if value is None else f"Content-Type {value.decode('latin-1')!r}"
    return UnsupportedMediaType(
        "Expected a JSON body sent as Content-Type: application/json (or application/*+json); "
        f"the request has {sent}"
    )


def body_step(
    location: str,
    wire: str,
    base: Any,
    marker: Param | None,
    required: bool,
    default: Any,
    context: str,
    is_upload: bool,
    negotiation: Negotiation | None = None,
) -> AsyncStep:
    if location == "form":
        return _form_step(wire, base, marker, required, default, is_upload)
    model = t.strip_optional(base)[0]
    decode = (
        _pydantic_decoder(model)
        if t.is_pydantic_model(model)
        else _msgspec_decoder(target_type(base, marker), base, context)
    )
    if negotiation is not None:
        return _negotiated_body_step(
            negotiation, decode, model, target_type(base, marker), required, default, context
        )

    async def extract_body(request: Request) -> Any:
        media = _media_type(request)
        if media is not None and not _is_json(media):
            raise _not_json(request)
        body = await request.body()
        if not body:
            if required:
                raise InvalidParam([_place("body", required_error())])
            return default
        if media is None:  # a body, but nothing says it is JSON
            raise _not_json(request)
        return decode(body)

    return extract_body


def _negotiated_body_step(
    negotiation: Negotiation,
    decode_json: Callable[[bytes], Any],
    model: Any,
    target: Any,
    required: bool,
    default: Any,
    context: str,
) -> AsyncStep:
    """A body in JSON or any media type the app's encoders read, by ``Content-Type``."""
    pydantic = t.is_pydantic_model(model)
    try:
        others = negotiation.decoders(Any if pydantic else target)
    except TypeError as exc:
        raise ConfigurationError(f"{context}: cannot decode a body as {target!r}: {exc}") from None
    accepted = ", ".join(negotiation.media_types)

    async def extract_negotiated_body(request: Request) -> Any:
        media = _media_type(request)
        if media is None or _is_json(media):
            decode = decode_json
        else:
            found = others.get(media)
            if found is None:
                raise UnsupportedMediaType(
                    f"This endpoint reads bodies in {accepted}; the request has Content-Type "
                    f"{media!r}"
                )
            decode = _other_decoder(found[0].name or found[0].media_type, found[1], model, pydantic)
        body = await request.body()
        if not body:
            if required:
                raise InvalidParam([_place("body", required_error())])
            return default
        if media is None:
            raise _not_json(request)
        return decode(body)

    return extract_negotiated_body


def _other_decoder(
    kind: str, decode: Callable[[bytes], Any], model: Any, pydantic: bool
) -> Callable[[bytes], Any]:
    validate = _pydantic_validator(model) if pydantic else None

    def decode_other(body: bytes) -> Any:
        try:
            value = decode(body)
        except msgspec.ValidationError as exc:
            raise InvalidParam([from_msgspec("body", str(exc), root=model)]) from None
        except (ValueError, RecursionError) as exc:  # msgspec's DecodeError is a ValueError
            raise MalformedBody(
                f"The body is not valid {kind}: {exc}",
                extra={"errors": [{"field": "body", "reason": f"is not valid {kind}: {exc}"}]},
            ) from None
        return validate(value) if validate is not None else value

    return decode_other


def _pydantic_validator(model: Any) -> Callable[[Any], Any]:
    import pydantic

    def validate(value: Any) -> Any:
        try:
            return model.model_validate(value)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise InvalidParam(from_pydantic("body", [dict(e) for e in errors])) from None

    return validate


def _msgspec_decoder(target: Any, base: Any, context: str) -> Callable[[bytes], Any]:
    try:
        decoder = msgspec.json.Decoder(target)
    except TypeError as exc:
        raise ConfigurationError(f"{context}: cannot decode a body as {base!r}: {exc}") from None
    walk = build(target, json_check)

    def decode(body: bytes) -> Any:
        try:
            return decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise InvalidParam(_every_error(body, exc, walk)) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise _malformed(exc) from None

    return decode


def _every_error(body: bytes, first: msgspec.ValidationError, walk: Node) -> list[FieldError]:
    """msgspec stopped at ``first``: decode the body without a type and walk it for the rest."""
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:  # invalid JSON after the first invalid field
        raise _malformed(exc) from None
    except (msgspec.ValidationError, RecursionError):  # a number out of range, deep nesting
        errors = []
    else:
        errors = walk.errors(raw, "body")
    return errors or [from_msgspec("body", str(first), root=walk.tp)]


def _malformed(exc: BaseException) -> MalformedBody:
    return MalformedBody(
        f"The body is not valid JSON: {exc}",
        extra={"errors": [{"field": "body", "reason": f"is not valid JSON: {exc}"}]},
    )


def _pydantic_decoder(model: Any) -> Callable[[bytes], Any]:
    import pydantic

    def decode(body: bytes) -> Any:
        try:
            return model.model_validate_json(body)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
            if any(e.get("type") == "json_invalid" for e in errors):
                raise MalformedBody("The body is not valid JSON") from None
            raise InvalidParam(from_pydantic("body", [dict(e) for e in errors])) from None

    return decode


def _form_step(
    wire: str, base: Any, marker: Param | None, required: bool, default: Any, upload: bool
) -> AsyncStep:
    """A form field, an uploaded file, or a whole struct bound from the form."""
    if upload:
        return _upload_step(wire, base, required, default)
    target = target_type(base, marker)
    walk = build(target, form_check)
    if t.is_structured(base):
        return _struct_form_step(target, base, walk)
    field = f"form.{wire}"
    many = t.sequence_item(base) is not None
    checkbox = _is_bool(_type_info(base))

    async def extract_form(request: Request) -> Any:
        values = (await request.form()).getlist(wire)
        if not values:
            if required:
                raise missing(field)
            return default
        if any(isinstance(v, UploadFile) for v in values):
            raise InvalidParam([_place(field, wrong_type(["str"], "UploadFile"))])
        value = values if many else values[-1]
        if checkbox and value == CHECKED:
            return True
        try:
            return msgspec.convert(value, target, strict=False)
        except msgspec.ValidationError as exc:
            raise InvalidParam(walk.errors(value, field) or _first(field, exc, walk)) from None

    return extract_form


def _struct_form_step(target: Any, base: Any, walk: Node) -> AsyncStep:
    """A whole struct (dataclass, TypedDict) bound from the form's fields."""
    checkboxes, lists = _bool_fields(base), _list_fields(base)

    async def extract_struct(request: Request) -> Any:
        data = {
            k: (v if len(v) > 1 or k in lists else v[0])
            for k, v in _grouped(await request.form()).items()
        }
        for name in checkboxes:
            if data.get(name) == CHECKED:
                data[name] = True
        try:
            return msgspec.convert(data, target, strict=False)
        except msgspec.ValidationError as exc:
            raise InvalidParam(walk.errors(data, "form") or _first("form", exc, walk)) from None

    return extract_struct


def _upload_step(wire: str, base: Any, required: bool, default: Any) -> AsyncStep:
    """``UploadFile`` (or a list of them): a text field of that name is no file."""
    field = f"form.{wire}"
    many = t.sequence_item(base) is not None

    async def extract_upload(request: Request) -> Any:
        values = (await request.form()).getlist(wire)
        if not values:
            if required:
                raise missing(field)
            return default
        if not all(isinstance(v, UploadFile) for v in values):
            raise InvalidParam([_place(field, wrong_type(["file"], "str"))])
        return values if many else values[-1]

    return extract_upload


def _place(field: str, error: dict[str, Any]) -> FieldError:
    return place(field, (), error)


def _first(location: str, exc: msgspec.ValidationError, walk: Node) -> list[FieldError]:
    return [from_msgspec(location, str(exc), root=walk.tp)]


#: What a checked HTML checkbox without a ``value`` attribute sends (an unchecked one sends
#: nothing, so a ``bool`` field with a default reads False).
CHECKED = "on"


def _bool_fields(base: Any) -> frozenset[str]:
    """The form names of a struct's (dataclass's, TypedDict's) boolean fields."""
    fields = getattr(_type_info(base), "fields", ())
    return frozenset(field.encode_name for field in fields if _is_bool(field.type))


def _list_fields(base: Any) -> frozenset[str]:
    """The form names of a struct's list (set, tuple) fields: one value sent is a list of one."""
    fields = getattr(_type_info(base), "fields", ())
    return frozenset(field.encode_name for field in fields if _is_list(field.type))


def _is_list(info: Any) -> bool:
    kinds = (
        msgspec.inspect.ListType,
        msgspec.inspect.SetType,
        msgspec.inspect.FrozenSetType,
        msgspec.inspect.VarTupleType,
    )
    if isinstance(info, msgspec.inspect.UnionType):
        return any(isinstance(kind, kinds) for kind in info.types)
    return isinstance(info, kinds)


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
