"""Password-reset tokens: signed, expiring, and bound to the current password hash.

The token carries a keyed fingerprint of the hash; setting a new password changes the hash
(argon2 salts every hash), so a used link is dead, and so are all the others issued before.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from bastion.auth._signing import load_list, signed_serializer
from bastion.config import Settings


class ResetTokens:
    def __init__(self, secret: str | None, max_age: timedelta, settings: Settings) -> None:
        self._serializer = signed_serializer(
            secret, settings.profile, "bastion.auth.password-reset", "Password reset links"
        )
        # The fingerprint key needs the serializer's secret: one random key in dev/test too.
        key = self._serializer.secret_key
        self._key = hmac.new(key, b"bastion.auth.reset", hashlib.sha256).digest()
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
        payload = load_list(self._serializer, token, self.max_age, int, str)
        return (payload[0], payload[1]) if payload is not None else None

    def _fingerprint(self, password_hash: str) -> str:
        return hmac.new(self._key, password_hash.encode(), hashlib.sha256).hexdigest()[:32]
