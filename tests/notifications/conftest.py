import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """A database on each engine: a SQLite file, and a fresh database on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    return request.getfixturevalue("fresh_postgres_url")
