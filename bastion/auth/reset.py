"""Password-reset tokens: signed, expiring, and bound to the current password hash.

The token carries a keyed fingerprint of the hash; setting a new password changes the hash
(argon2 salts every hash), so a used link is dead, and so are all the others issued before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from bastion.config import Settings
from bastion.exceptions import ConfigurationError


class ResetTokens:
    def __init__(self, secret: str | None, max_age: timedelta, settings: Settings) -> None:
        if not secret:
            if settings.profile == "prod":
                raise ConfigurationError(
                    "Password reset links need a secret key: set BASTION_SECRET_KEY"
                )
            secret = secrets.token_urlsafe(32)  # links die with the process; fine in dev
        self._key = hmac.new(secret.encode(), b"bastion.auth.reset", hashlib.sha256).digest()
        self._serializer = URLSafeTimedSerializer(
            secret,
            salt="bastion.auth.password-reset",
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self.max_age = int(max_age.total_seconds())

    def issue(self, user_id: int, password_hash: str) -> str:
        return self._serializer.dumps([user_id, self._fingerprint(password_hash)])

    def subject(self, token: str) -> int | None:
        """The user id in a valid, unexpired token; None otherwise."""
        payload = self._load(token)
        return payload[0] if payload is not None else None

    def matches(self, token: str, password_hash: str) -> bool:
        """True while the password is still the one the token was issued against."""
        payload = self._load(token)
        if payload is None:
            return False
        return hmac.compare_digest(payload[1], self._fingerprint(password_hash))

    def _load(self, token: str) -> tuple[int, str] | None:
        try:
            payload: Any = self._serializer.loads(token, max_age=self.max_age)
        except (BadData, UnicodeError, ValueError):
            return None
        if (
            isinstance(payload, list)
            and len(payload) == 2
            and type(payload[0]) is int
            and isinstance(payload[1], str)
        ):
            return payload[0], payload[1]
        return None

    def _fingerprint(self, password_hash: str) -> str:
        return hmac.new(self._key, password_hash.encode(), hashlib.sha256).hexdigest()[:32]
