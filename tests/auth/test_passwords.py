import asyncio

import pytest

from bastion import ConfigurationError, ValidationError
from bastion.auth import PasswordHasher, PasswordPolicy


def run(coro):
    return asyncio.run(coro)


def test_hash_is_argon2id_and_salted(hasher: PasswordHasher) -> None:
    first = run(hasher.hash("correct horse"))
    second = run(hasher.hash("correct horse"))
    assert first.startswith("$argon2id$")
    assert first != second


def test_verify_accepts_the_password_and_refuses_others(hasher: PasswordHasher) -> None:
    stored = run(hasher.hash("correct horse"))
    assert run(hasher.verify(stored, "correct horse")) is True
    assert run(hasher.verify(stored, "correct horsf")) is False


@pytest.mark.parametrize("stored", ["", "plain", "$argon2id$v=19$garbage", "$2b$12$abc"])
def test_verify_answers_false_for_malformed_hashes(hasher: PasswordHasher, stored: str) -> None:
    assert run(hasher.verify(stored, "anything")) is False


def test_needs_rehash_when_parameters_change(hasher: PasswordHasher) -> None:
    stored = run(hasher.hash("pw"))
    assert hasher.needs_rehash(stored) is False
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    assert stronger.needs_rehash(stored) is True
    assert stronger.needs_rehash("not a hash") is True


def test_default_parameters_follow_rfc_9106() -> None:
    stored = run(PasswordHasher().hash("pw"))
    assert "$m=65536,t=3,p=4$" in stored


def test_dummy_verification_is_false(hasher: PasswordHasher) -> None:
    assert run(hasher.verify_dummy("whatever")) is False


def test_bad_parameters_fail_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="memory_cost"):
        PasswordHasher(memory_cost=4, parallelism=1)


def test_policy_names_every_reason() -> None:
    policy = PasswordPolicy(min_length=12, breached=lambda p: p == "password1234")
    run(policy.check("a sufficiently long one"))
    with pytest.raises(ValidationError) as caught:
        run(policy.check("short"))
    assert caught.value.errors == [
        {"field": "body.password", "reason": "Use at least 12 characters"}
    ]
    with pytest.raises(ValidationError, match="breached"):
        run(policy.check("password1234"))
    with pytest.raises(ValidationError, match="at most"):
        run(PasswordPolicy(max_length=20).check("x" * 21))


def test_policy_breached_check_may_be_async() -> None:
    async def breached(password: str) -> bool:
        return password.startswith("leaked")

    policy = PasswordPolicy(min_length=1, breached=breached)
    assert run(policy.problems("leaked-one")) == [
        "This password appears in a list of breached passwords"
    ]
    assert run(policy.problems("fine")) == []


def test_policy_bounds_are_checked_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="min_length"):
        PasswordPolicy(min_length=0)
