"""Fixtures shared by the cache tests: a session-wide memcached (tests/_memcached.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._memcached import start_memcached


@pytest.fixture(scope="session")
def memcached_url() -> Iterator[str]:
    """The URL of a throwaway memcached, started once per test session."""
    yield from start_memcached()
