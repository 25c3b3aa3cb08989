"""CSRF secrets and tokens: signed with itsdangerous, compared in constant time.

The cookie holds a random 32-byte secret, signed so that a cookie planted from a sibling
subdomain (which cannot know ``secret_key``) is refused. A token is that secret XOR-ed with
a fresh random mask, signed with a timestamp: every rendered form carries different bytes
(so compression side channels such as BREACH learn nothing), and any of them matches the
cookie until it expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner

SECRET_BYTES = 32
#: Longer input is refused before any decoding: real cookies and tokens are ~100 characters.
MAX_LENGTH = 256
Verdict = Literal["ok", "wrong", "expired"]


class CSRFTokens:
    """Makes and checks cookie values and tokens for one ``secret_key``."""

    def __init__(self, secret_key: str, max_age: int | None) -> None:
        self._cookie = Signer(secret_key, salt="bastion.csrf.cookie", digest_method=hashlib.sha256)
        self._token = TimestampSigner(
            secret_key, salt="bastion.csrf.token", digest_method=hashlib.sha256
        )
        self._max_age = max_age

    @staticmethod
    def new_secret() -> bytes:
        return secrets.token_bytes(SECRET_BYTES)

    def cookie_value(self, secret: bytes) -> str:
        return self._cookie.sign(_b64(secret)).decode("ascii")

    def read_cookie(self, value: str) -> bytes | None:
        """The secret in a cookie, or None if it is absent, tampered with or malformed."""
        if not value or len(value) > MAX_LENGTH or not value.isascii():
            return None
        try:
            secret = _unb64(self._cookie.unsign(value))
        except (BadSignature, ValueError, binascii.Error):
            return None
        return secret if len(secret) == SECRET_BYTES else None

    def token(self, secret: bytes) -> str:
        mask = secrets.token_bytes(SECRET_BYTES)
        return self._token.sign(_b64(mask + _xor(mask, secret))).decode("ascii")

    def check(self, token: str, secret: bytes) -> Verdict:
        """Whether ``token`` was made from ``secret`` (and has not expired)."""
        if len(token) > MAX_LENGTH or not token.isascii():
            return "wrong"
        try:
            masked = _unb64(self._token.unsign(token, max_age=self._max_age))
        except SignatureExpired:
            return "expired"
        except (BadSignature, ValueError, binascii.Error):
            return "wrong"
        if len(masked) != 2 * SECRET_BYTES:
            return "wrong"
        mask, hidden = masked[:SECRET_BYTES], masked[SECRET_BYTES:]
        return "ok" if hmac.compare_digest(_xor(mask, hidden), secret) else "wrong"


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
