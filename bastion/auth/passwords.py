"""Password hashing (argon2id) and the password policy.

Hashing costs tens of milliseconds of CPU and memory by design, so every call runs in a
worker thread (argon2 releases the GIL) instead of stalling the event loop.

    hasher = PasswordHasher()
    stored = await hasher.hash("correct horse battery staple")
    if await hasher.verify(stored, attempt) and hasher.needs_rehash(stored):
        user.password_hash = await hasher.hash(attempt)   # parameters were raised since
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, TypeVarTuple

import argon2
import argon2.low_level
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bastion.exceptions import ConfigurationError, ValidationError

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
#: ``breached(password)`` answers whether the password is known from a breach (a local list,
#: a k-anonymity API...); it may be async.
BreachedCheck = Callable[[str], bool | Awaitable[bool]]


class PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106, low-memory profile: t=3, m=64 MiB, p=4).

    ``verify`` never raises for a wrong password or a malformed hash: it answers False.
    ``verify_dummy`` burns the same time for a user that does not exist, so response times
    do not reveal which e-mail addresses have accounts.
    """

    def __init__(
        self,
        *,
        time_cost: int = argon2.DEFAULT_TIME_COST,
        memory_cost: int = argon2.DEFAULT_MEMORY_COST,
        parallelism: int = argon2.DEFAULT_PARALLELISM,
    ) -> None:
        if memory_cost < 8 * parallelism or time_cost < 1:
            raise ConfigurationError(
                f"PasswordHasher(time_cost={time_cost}, memory_cost={memory_cost}): argon2 "
                "needs time_cost >= 1 and memory_cost >= 8 * parallelism (in KiB)"
            )
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._dummy = _dummy_hash(self._hasher)

    async def hash(self, password: str) -> str:
        """A new salted argon2id hash of ``password`` (a PHC string with its parameters)."""
        return await _in_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; the comparison inside argon2 is constant-time."""
        return await _in_thread(self._check, password_hash, password)

    async def verify_dummy(self, password: str) -> bool:
        """Verify against a fixed hash and answer False: the cost of a real check, for an
        account that does not exist."""
        await _in_thread(self._check, self._dummy, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters (or another algorithm)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
            return False


def _dummy_hash(hasher: argon2.PasswordHasher) -> str:
    """A well-formed hash with the hasher's parameters and a zero salt and digest: verifying
    against it costs what a real check costs, and making it costs nothing (hashing one here
    added an argon2 run, ~0.1 s, to every app's start-up and every cold Lambda)."""
    salt = base64.b64encode(bytes(hasher.salt_len)).decode().rstrip("=")
    digest = base64.b64encode(bytes(hasher.hash_len)).decode().rstrip("=")
    params = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    return f"$argon2id$v={argon2.low_level.ARGON2_VERSION}${params}${salt}${digest}"


class PasswordPolicy:
    """What a new password must satisfy; ``await policy.check(password)`` raises a 422
    naming ``field`` with every reason. Defaults: 12 to 1024 characters (OWASP ASVS 5),
    no composition rules (NIST SP 800-63B), an optional breached-password check."""

    def __init__(
        self,
        *,
        min_length: int = 12,
        max_length: int = 1024,
        breached: BreachedCheck | None = None,
        field: str = "body.password",
    ) -> None:
        if not 1 <= min_length <= max_length:
            raise ConfigurationError(
                f"PasswordPolicy(min_length={min_length}, max_length={max_length}): "
                "min_length must be at least 1 and at most max_length"
            )
        self.min_length = min_length
        self.max_length = max_length
        self.breached = breached
        self.field = field

    async def problems(self, password: str) -> list[str]:
        """The reasons ``password`` is refused (empty when it is fine)."""
        reasons = []
        if len(password) < self.min_length:
            reasons.append(f"Use at least {self.min_length} characters")
        if len(password) > self.max_length:
            reasons.append(f"Use at most {self.max_length} characters")
        elif self.breached is not None:
            known: Any = self.breached(password)
            if inspect.isawaitable(known):
                known = await known
            if known:
                reasons.append("This password appears in a list of breached passwords")
        return reasons

    async def check(self, password: str) -> None:
        """Raise a ``ValidationError`` (422) when the password is refused."""
        reasons = await self.problems(password)
        if reasons:
            raise ValidationError([{"field": self.field, "reason": r} for r in reasons])


async def _in_thread(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args)
