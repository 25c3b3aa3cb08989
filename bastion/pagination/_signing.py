"""Opaque cursors: the keyset values and direction, JSON in base64url, with an HMAC.

The MAC covers the path the cursor was made for, so a client can neither forge a position
nor carry a cursor to another list. The key comes from the settings' ``secret_key``; an app
without one (dev, test) gets a random key per process, so its cursors die with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

import msgspec

from bastion.exceptions import ValidationError
from bastion.http.request import Request

_PROCESS_KEY = secrets.token_bytes(32)
_TAG = 16  # bytes of MAC kept: 128 bits


def _key(request: Request | None) -> bytes:
    secret = request.app.settings.secret_key if request is not None else None
    if not secret:
        return _PROCESS_KEY
    return hmac.new(secret.encode(), b"bastion.pagination.cursor", hashlib.sha256).digest()


def _mac(request: Request | None, payload: bytes) -> bytes:
    path = request.path.encode() if request is not None else b""
    return hmac.new(_key(request), path + b"\x00" + payload, hashlib.sha256).digest()[:_TAG]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(request: Request | None, backwards: bool, values: list[Any]) -> str:
    payload = msgspec.json.encode(["p" if backwards else "n", values])
    return f"{_b64(payload)}.{_b64(_mac(request, payload))}"


def bad_cursor(reason: str) -> ValidationError:
    return ValidationError([{"field": "query.cursor", "reason": reason}])


def unsign(request: Request | None, token: str) -> tuple[bool, list[Any]]:
    """``(backwards, values)`` from a cursor this app made for this path; 422 otherwise."""
    body, dot, tag = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        given = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4))
    except (binascii.Error, ValueError):
        raise bad_cursor("Not a cursor this list gave out") from None
    if not dot or not hmac.compare_digest(given, _mac(request, payload)):
        raise bad_cursor("Not a cursor this list gave out (altered, or from another list)")
    try:
        direction, values = msgspec.json.decode(payload, type=tuple[str, list[Any]])
    except msgspec.DecodeError:
        raise bad_cursor("Not a cursor this list gave out") from None
    if direction not in ("n", "p"):
        raise bad_cursor("Not a cursor this list gave out")
    return direction == "p", values
