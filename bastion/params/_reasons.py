"""Validation failures in words: a sentence about the field, and the rule it broke.

msgspec and pydantic describe a failure for programmers (``Expected `str` of length >= 1``);
a person reads "must be at least 1 character long". Each described error is ``reason`` (the
sentence), ``constraint`` (the JSON Schema keyword that failed: ``minLength``), ``expected``
(that keyword's value: ``1``) and, for a value of the wrong type, ``got`` (its JSON type).
Sentences are translated into the current locale (``bastion.i18n``) as they are made, that
is only when a request fails; in English they are the strings written here.
"""

from __future__ import annotations

import ast
import enum
import functools
import re
from collections.abc import Sequence
from typing import Any, Literal, get_args, get_origin

from bastion.i18n import N_, gettext, ngettext
from bastion.params import _types as t

EMAIL = N_("must be a valid e-mail address")
#: msgspec's type names as JSON Schema types, and how a sentence names them.
_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "null": "null",
    "array": "array",
    "object": "object",
    "UploadFile": "file",
    "file": "file",
}
_NAMES = {
    "int": N_("an integer"),
    "float": N_("a number"),
    "str": N_("a string"),
    "bool": N_("true or false"),
    "null": N_("null"),
    "array": N_("a list"),
    "object": N_("an object"),
    "bytes": N_("base64-encoded bytes"),
    "bytearray": N_("base64-encoded bytes"),
    "datetime": N_("a date and time"),
    "date": N_("a date"),
    "time": N_("a time"),
    "duration": N_("a duration"),
    "uuid": N_("a UUID"),
    "decimal": N_("a decimal number"),
    "file": N_("a file"),
}
#: Messages that name a format: (sentence, JSON Schema format).
_FORMATS = {
    "Invalid RFC3339 encoded datetime": (
        N_("must be a date and time such as 2024-01-31T09:30:00Z"),
        "date-time",
    ),
    "Invalid RFC3339 encoded date": (N_("must be a date such as 2024-01-31"), "date"),
    "Invalid RFC3339 encoded time": (N_("must be a time such as 09:30:00"), "time"),
    "Invalid ISO8601 duration": (N_("must be a duration such as P1DT2H"), "duration"),
    "Invalid UUID": (N_("must be a UUID"), "uuid"),
    "Invalid decimal string": (N_("must be a decimal number"), "decimal"),
    "Invalid base64 encoded string": (N_("must be base64-encoded"), "byte"),
}
_TYPE = re.compile(r"Expected `([^`]+)`, got `([^`]+)`")
_LENGTH = re.compile(r"Expected `([^`]+)` of length (>=|<=) (\d+)")
_EXACT_LENGTH = re.compile(r"Expected `array` of length (\d+)")
_BOUND = re.compile(r"Expected `[^`]+` (>=|>|<=|<) (\S+)")
_MULTIPLE = re.compile(r"Expected `[^`]+` that's a multiple of (\S+)")
_PATTERN = re.compile(r"Expected `[^`]+` matching regex (.+)")
_TIMEZONE = re.compile(r"Expected `[^`]+` (with|without) a timezone component")
_BOUNDS = {">=": "minimum", ">": "exclusiveMinimum", "<=": "maximum", "<": "exclusiveMaximum"}
_BOUND_SENTENCES = {
    "minimum": N_("must be at least %(limit)s"),
    "exclusiveMinimum": N_("must be greater than %(limit)s"),
    "maximum": N_("must be at most %(limit)s"),
    "exclusiveMaximum": N_("must be less than %(limit)s"),
}


def describe(message: str, tp: Any = None) -> dict[str, Any]:
    """msgspec's message (without its path) as ``reason``, ``constraint``, ``expected``."""
    if message.startswith("Object missing required field"):
        return required()
    if message.startswith("Object contains unknown field"):
        return unknown()
    if message.startswith("Invalid enum value"):
        return one_of(choices(tp))
    if message in _FORMATS:
        sentence, name = _FORMATS[message]
        return {"reason": gettext(sentence), "constraint": "format", "expected": name}
    found = _TYPE.fullmatch(message)
    if found:
        return wrong_type(found.group(1).split(" | "), found.group(2))
    found = _LENGTH.fullmatch(message)
    if found:
        kind, op, count = found.group(1), found.group(2), int(found.group(3))
        family = {"array": "Items", "object": "Properties"}.get(kind, "Length")
        return rule(("max" if op == "<=" else "min") + family, count, kind)
    found = _EXACT_LENGTH.fullmatch(message)
    if found:
        count = int(found.group(1))
        reason = ngettext(
            "must have exactly %(num)s item", "must have exactly %(num)s items", count, num=count
        )
        return {"reason": reason, "constraint": "items"}
    found = _BOUND.fullmatch(message)
    if found:
        return rule(_BOUNDS[found.group(1)], _number(found.group(2)))
    found = _MULTIPLE.fullmatch(message)
    if found:
        return rule("multipleOf", _number(found.group(1)))
    found = _PATTERN.fullmatch(message)
    if found:
        return pattern(_literal(found.group(1)))
    found = _TIMEZONE.fullmatch(message)
    if found:
        needed = found.group(1) == "with"
        words = (
            gettext("must include a time zone (Z or ±hh:mm)")
            if needed
            else gettext("must not include a time zone")
        )
        return {"reason": words, "constraint": "timezone", "expected": needed}
    if message in ("Number out of range", "Integer value out of range"):
        return {"reason": gettext("is a number out of range")}
    return {"reason": message}  # a check of the application's own (__post_init__): its words


def required() -> dict[str, Any]:
    return {"reason": gettext("is required"), "constraint": "required"}


def unknown() -> dict[str, Any]:
    reason = gettext("is not a known field")
    return {"reason": reason, "constraint": "additionalProperties", "expected": False}


def wrong_type(expected: Sequence[str], got: str | None) -> dict[str, Any]:
    """``int | null`` expected, ``str`` got → "must be an integer or null"."""
    names = [
        gettext(_NAMES[name]) if name in _NAMES else gettext("a %(type)s", type=name)
        for name in expected
    ]
    if len(names) == 1:
        words = names[0]
    else:
        words = gettext("%(first)s or %(last)s", first=", ".join(names[:-1]), last=names[-1])
    if got == "UploadFile":
        reason = gettext("must be %(types)s, not a file", types=words)
    else:
        reason = gettext("must be %(types)s", types=words)
    kinds = list(dict.fromkeys(_JSON_TYPES.get(name, "string") for name in expected))
    error: dict[str, Any] = {"reason": reason, "constraint": "type"}
    error["expected"] = kinds[0] if len(kinds) == 1 else kinds
    if got is not None:
        error["got"] = _JSON_TYPES.get(got, got)
    return error


def one_of(values: list[Any] | None) -> dict[str, Any]:
    if not values:
        return {"reason": gettext("is not one of the allowed values"), "constraint": "enum"}
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    reason = gettext("must be one of %(choices)s", choices=shown)
    return {"reason": reason, "constraint": "enum", "expected": values}


def pattern(regex: str) -> dict[str, Any]:
    kind = _pattern_kind(regex)
    if kind == "email":
        reason = gettext(EMAIL)
    elif kind == "filled":
        reason = gettext("must not be blank")
    else:
        reason = gettext("must match the pattern %(pattern)s", pattern=repr(regex))
    return {"reason": reason, "constraint": "pattern", "expected": regex}


@functools.lru_cache(maxsize=256)
def _pattern_kind(regex: str) -> str:
    """What a pattern is for, judged by what it accepts: an e-mail address, or anything but
    blanks (RealWorld's ``\\S``); else it is shown as it is."""
    try:
        compiled = re.compile(regex)
    except re.error:
        return ""
    if all(compiled.search(s) for s in ("ada@example.com", "a.b+c@mail.example.org")) and not any(
        compiled.search(s) for s in ("ada", "ada@", "@example.com", "ada example.com")
    ):
        return "email"
    if all(compiled.search(s) for s in ("x", " 1 ", "Ω", "-", "a b")) and not any(
        compiled.search(s) for s in ("", "   ", "\t\n")
    ):
        return "filled"
    return ""


def rule(keyword: str, limit: Any, kind: str = "str") -> dict[str, Any]:
    """A broken bound as a sentence: ``("minLength", 1)`` → "must be at least 1 character long"."""
    most = keyword.startswith("max")
    if keyword.endswith("Length") and kind in ("bytes", "bytearray"):
        reason = (
            ngettext(
                "must be at most %(num)s byte long", "must be at most %(num)s bytes long", limit
            )
            if most
            else ngettext(
                "must be at least %(num)s byte long", "must be at least %(num)s bytes long", limit
            )
        )
    elif keyword.endswith("Length"):
        reason = (
            ngettext(
                "must be at most %(num)s character long",
                "must be at most %(num)s characters long",
                limit,
            )
            if most
            else ngettext(
                "must be at least %(num)s character long",
                "must be at least %(num)s characters long",
                limit,
            )
        )
    elif keyword.endswith("Items"):
        reason = (
            ngettext("must have at most %(num)s item", "must have at most %(num)s items", limit)
            if most
            else ngettext(
                "must have at least %(num)s item", "must have at least %(num)s items", limit
            )
        )
    elif keyword.endswith("Properties"):
        reason = (
            ngettext("must have at most %(num)s entry", "must have at most %(num)s entries", limit)
            if most
            else ngettext(
                "must have at least %(num)s entry", "must have at least %(num)s entries", limit
            )
        )
    elif keyword == "multipleOf":
        return {
            "reason": gettext("must be a multiple of %(limit)s", limit=limit),
            "constraint": keyword,
            "expected": limit,
        }
    else:
        reason = gettext(_BOUND_SENTENCES[keyword], limit=limit)
        return {"reason": reason, "constraint": keyword, "expected": limit}
    return {"reason": reason % {"num": limit}, "constraint": keyword, "expected": limit}


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        value = float(text)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _literal(text: str) -> str:
    """msgspec shows a pattern as Python's repr: ``'^[^@\\\\s]+'`` → ``^[^@\\s]+``."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def choices(tp: Any) -> list[Any] | None:
    """The values an enum or ``Literal`` allows."""
    if tp is None:
        return None
    tp = t.strip_optional(t.strip_annotated(tp)[0])[0]
    tp = t.strip_annotated(tp)[0]
    if get_origin(tp) is Literal:
        return list(get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [member.value for member in tp]
    return None


#: pydantic's error types as (JSON Schema keyword, the ``ctx`` member holding its value).
_PYDANTIC = {
    "string_too_short": ("minLength", "min_length"),
    "string_too_long": ("maxLength", "max_length"),
    "too_short": ("minItems", "min_length"),
    "too_long": ("maxItems", "max_length"),
    "greater_than_equal": ("minimum", "ge"),
    "greater_than": ("exclusiveMinimum", "gt"),
    "less_than_equal": ("maximum", "le"),
    "less_than": ("exclusiveMaximum", "lt"),
    "multiple_of": ("multipleOf", "multiple_of"),
}
_PYDANTIC_TYPES = {
    "int": "int",
    "float": "float",
    "string": "str",
    "bool": "bool",
    "list": "array",
    "dict": "object",
    "model": "object",
    "model_attributes": "object",
}


def pydantic_reason(error: dict[str, Any]) -> dict[str, Any]:
    """One of pydantic's errors (its ``type`` and ``ctx``) in the same words as msgspec's."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return required()
    if kind == "extra_forbidden":
        return unknown()
    if kind in ("literal_error", "enum"):
        shown = str(ctx.get("expected", ""))  # "'a', 'b' or 'c'", or "1 or 2"
        values = re.findall(r"'((?:[^'\\]|\\.)*)'", shown) or re.split(r", | or ", shown)
        return one_of([v for v in values if v] or None)
    if kind == "string_pattern_mismatch":
        return pattern(str(ctx.get("pattern", "")))
    if kind in _PYDANTIC and _PYDANTIC[kind][1] in ctx:
        keyword, member = _PYDANTIC[kind]
        return rule(keyword, ctx[member])
    prefix = kind.partition("_")[0]
    if kind.endswith(("_type", "_parsing")) and kind.rpartition("_")[0] in _PYDANTIC_TYPES:
        name = _PYDANTIC_TYPES[kind.rpartition("_")[0]]
        return wrong_type([name], None)
    message = str(error.get("msg", "is invalid"))
    if prefix == "value" and "email address" in message:
        return {"reason": gettext(EMAIL), "constraint": "format", "expected": "email"}
    # "Input should be a valid date" → "must be a valid date"; a validator's own words stay
    return {"reason": _SHOULD.sub("must ", message).removeprefix("Value error, ")}


_SHOULD = re.compile(r"^(?:Input|Value|String|List|Dictionary|Tuple|Set|Object) should ")
