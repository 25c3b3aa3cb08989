import pytest

from bastion.auth import PasswordHasher
from tests.db.conftest import app_with_tables, database_url  # noqa: F401  (shared fixtures)

SECRET = "test-secret-key-with-at-least-32-characters"


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """argon2id with tiny costs: the tests check behaviour, not the work factor."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
