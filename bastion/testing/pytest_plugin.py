"""pytest fixtures: define an ``app`` fixture in conftest.py and use ``client``.

Registered through the ``pytest11`` entry point, so installing Bastion is enough.
``async_client`` needs an async test runner; with pytest-asyncio installed it is declared
through it, so it works in both its strict and auto modes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from bastion.testing.client import AsyncTestClient, TestClient

try:
    import pytest_asyncio

    _async_fixture: Callable[..., Any] = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - another async plugin (anyio) may run it
    _async_fixture = pytest.fixture


@pytest.fixture
def app() -> Any:
    """Override in your conftest.py: ``@pytest.fixture def app(): return create_app()``."""
    raise pytest.UsageError(
        "The `client` and `async_client` fixtures need an `app` fixture: define one in your "
        "conftest.py that returns your bastion.App (or any ASGI app)"
    )


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """A ``TestClient`` with the app started (lifespan run) for the test."""
    with TestClient(app) as test_client:
        yield test_client


@_async_fixture
async def async_client(app: Any) -> AsyncIterator[AsyncTestClient]:
    """An ``AsyncTestClient`` with the app started, in the test's event loop."""
    async with AsyncTestClient(app) as test_client:
        yield test_client
