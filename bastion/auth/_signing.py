"""Signed, expiring tokens for links and half-done log-ins (itsdangerous, SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from bastion.exceptions import ConfigurationError


def signed_serializer(
    secret: str | None, profile: str, salt: str, what: str
) -> URLSafeTimedSerializer:
    """A serializer keyed by the app's secret; without one, a random per-process key in dev
    and test (the tokens die with the process) and a start-up error in prod naming ``what``."""
    if not secret:
        if profile == "prod":
            raise ConfigurationError(f"{what} need a secret key: set BASTION_SECRET_KEY")
        secret = secrets.token_urlsafe(32)
    return URLSafeTimedSerializer(
        secret, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def load_list(
    serializer: URLSafeTimedSerializer, token: str, max_age: int, *kinds: type
) -> list[Any] | None:
    """The payload of a valid, unexpired token when it is a list of exactly ``kinds``
    (``int`` meaning a real int, not a bool); None for anything else."""
    try:
        payload: Any = serializer.loads(token, max_age=max_age)
    except (BadData, UnicodeError, ValueError):
        return None
    if not isinstance(payload, list) or len(payload) != len(kinds):
        return None
    pairs = zip(payload, kinds, strict=True)
    if all(type(v) is k if k is int else isinstance(v, k) for v, k in pairs):
        return payload
    return None
