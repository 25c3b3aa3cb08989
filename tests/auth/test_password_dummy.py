"""The dummy hash that ``verify_dummy`` checks against costs nothing to make and as much as a
real hash to verify."""

from __future__ import annotations

import pytest
from argon2.exceptions import VerifyMismatchError

from bastion.auth import PasswordHasher


def test_constructing_a_hasher_runs_no_argon2() -> None:
    # Hashing at construction used a random salt: two hashers had different dummies.
    first = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    second = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    assert first._dummy == second._dummy


def test_dummy_hash_has_the_hashers_parameters() -> None:
    hasher = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2)
    assert not hasher.needs_rehash(hasher._dummy)
    assert hasher._check(hasher._dummy, "anything") is False


def test_dummy_hash_is_checked_by_argon2_not_refused_as_malformed() -> None:
    # A mismatch is only known after argon2 ran over the password: the cost of a real check.
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.raises(VerifyMismatchError):
        hasher._hasher.verify(hasher._dummy, "a wrong password")
