"""pytest fixtures: define an ``app`` fixture in conftest.py and use ``client``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bastion.testing.client import AsyncTestClient, TestClient


@pytest.fixture
def app() -> Any:
    """Override in your conftest.py: ``@pytest.fixture def app(): return create_app()``."""
    raise pytest.UsageError(
        "The `client` fixture needs an `app` fixture: define one in your conftest.py that "
        "returns your bastion.App"
    )


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """A ``TestClient`` with the app started (lifespan run) for the test."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
async def async_client(app: Any) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app) as test_client:
        yield test_client
