"""E-mail addresses: the ``EmailAddress`` type for request models, and the parsing every
``Message`` field goes through before anything is sent.

    class Invite(msgspec.Struct):
        email: EmailAddress          # a 422 naming body.email when it is not an address

An address is a dot-atom local part (Unicode letters allowed: such mail needs SMTPUTF8) at a
domain of at least two labels. A display name may be any text but a line break: it is
encoded (RFC 2047) when the message is written. Domains are sent in their ASCII (IDNA) form,
so ``zoë@bücher.example`` needs SMTPUTF8 only for its local part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.headerregistry import Address
from typing import Annotated, Any

import msgspec

from bastion.mail.errors import InvalidAddress

# Spelt out in ranges, not \w or $: the server checks the pattern with Python's re and the
# OpenAPI document's readers with ECMA-262, which disagree on \w (Unicode or ASCII) and on $
# (Python's also matches before a final newline). Non-ASCII is allowed as RFC 6531 does.
_NON_ASCII = "\u0080-\uffff"
_ATOM = rf"[A-Za-z0-9!#$%&'*+/=?^`{{|}}~{_NON_ASCII}-]+"
_ALNUM = rf"[A-Za-z0-9{_NON_ASCII}]"
_LABEL = rf"{_ALNUM}(?:(?:{_ALNUM}|-){{0,61}}{_ALNUM})?"
#: The pattern ``EmailAddress`` checks (it also describes the field in OpenAPI).
EMAIL_PATTERN = rf"^(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+(?![\s\S])"
_EMAIL = re.compile(EMAIL_PATTERN)
_MAX_LENGTH = 254

#: A request field holding one e-mail address; anything else is a 422 naming the field.
EmailAddress = Annotated[
    str,
    msgspec.Meta(
        max_length=_MAX_LENGTH,
        pattern=EMAIL_PATTERN,
        extra_json_schema={"format": "email"},
    ),
]

#: What a message field accepts for one address: ``"ada@example.com"``,
#: ``"Ada Lovelace <ada@example.com>"``, ``("Ada Lovelace", "ada@example.com")`` or an
#: ``email.headerregistry.Address``.
AddressLike = str | tuple[str, str] | Address
Addresses = AddressLike | Iterable[AddressLike]


def is_email(value: str) -> bool:
    """Whether ``value`` is a bare address (``ada@example.com``) Bastion will send to."""
    return len(value) <= _MAX_LENGTH and _EMAIL.match(value) is not None


def parse(value: Any, field: str) -> Address:
    """One address from any ``AddressLike``; ``InvalidAddress`` naming ``field`` otherwise."""
    if isinstance(value, Address):
        name, spec = value.display_name, value.addr_spec
    elif isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        name, spec = value
    elif isinstance(value, str):
        name, spec = _split(value, field)
    else:
        raise InvalidAddress(
            field,
            value,
            "is not an address: give 'ada@example.com', 'Ada <ada@example.com>' "
            "or ('Ada', 'ada@example.com')",
        )
    if any(c in name for c in "\r\n\0"):
        raise InvalidAddress(field, value, "has a line break in its display name")
    spec = spec.strip()
    if not is_email(spec):
        raise InvalidAddress(field, value)
    local, _, domain = spec.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        raise InvalidAddress(field, value, "has a domain that cannot be written in IDNA") from None
    return Address(display_name=name.strip(), username=local, domain=ascii_domain.lower())


def parse_many(value: Any, field: str) -> list[Address]:
    """A list of addresses; a single one may be given bare. Entries are named ``to[1]``."""
    if value is None:
        return []
    if isinstance(value, str | Address) or (
        isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)
    ):
        return [parse(value, field)]
    try:
        items = list(value)
    except TypeError:
        raise InvalidAddress(field, value, "is not an address or a list of addresses") from None
    return [parse(item, f"{field}[{i}]") for i, item in enumerate(items)]


def _split(value: str, field: str) -> tuple[str, str]:
    """``Ada <ada@example.com>`` → ``("Ada", "ada@example.com")``; a bare address has no
    name. Several addresses in one string are refused: give a list."""
    if any(c in value for c in "\r\n\0"):
        raise InvalidAddress(field, value, "has a line break in it")
    text = value.strip()
    if not text.endswith(">"):
        if "," in text or ";" in text:
            raise InvalidAddress(field, value, "holds several addresses: give a list")
        return "", text
    name, bracket, spec = text[:-1].rpartition("<")
    if not bracket or "<" in name or ">" in name:
        raise InvalidAddress(field, value)
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return name, spec


def needs_smtputf8(address: Address) -> bool:
    """Whether the envelope must carry this address in UTF-8 (a non-ASCII local part)."""
    return not address.addr_spec.isascii()
