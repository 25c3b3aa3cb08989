"""pytest fixtures: define an ``app`` fixture in conftest.py and use ``client``.

Registered through the ``pytest11`` entry point, so installing Bastion is enough.
``client`` and ``async_client`` talk to ``bastion_base_url`` (``http://testserver``; override
the fixture for another). ``async_client`` needs an async test runner; with pytest-asyncio
installed it is declared through it, and an async test that uses it must be marked
``@pytest.mark.asyncio`` unless the project sets ``asyncio_mode = "auto"`` (pytest-asyncio's
default strict mode runs only marked tests): one that is not fails saying so.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from bastion.testing.client import AsyncTestClient, TestClient

try:
    import pytest_asyncio

    _async_fixture: Callable[..., Any] = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - another async plugin (anyio) may run it
    _async_fixture = pytest.fixture

#: Markers of the plugins that run async tests (pytest-asyncio, anyio, pytest-trio).
_ASYNC_MARKERS = ("asyncio", "anyio", "trio")


@pytest.fixture
def app() -> Any:
    """Override in your conftest.py: ``@pytest.fixture def app(): return create_app()``."""
    raise pytest.UsageError(
        "The `client` and `async_client` fixtures need an `app` fixture: define one in your "
        "conftest.py that returns your bastion.App (or any ASGI app)"
    )


@pytest.fixture
def bastion_base_url() -> str:
    """Where the test clients send requests; override it, e.g. to ``https://testserver``."""
    return "http://testserver"


@pytest.fixture
def client(app: Any, bastion_base_url: str) -> Iterator[TestClient]:
    """A ``TestClient`` with the app started (lifespan run) for the test."""
    with TestClient(app, base_url=bastion_base_url) as test_client:
        yield test_client


@_async_fixture
async def async_client(app: Any, bastion_base_url: str) -> AsyncIterator[AsyncTestClient]:
    """An ``AsyncTestClient`` with the app started, in the test's event loop."""
    async with AsyncTestClient(app, base_url=bastion_base_url) as test_client:
        yield test_client


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """An unmarked async test using ``async_client`` fails with the fix, not with pytest's
    "async def functions are not natively supported" (which blames a missing plugin)."""
    if (
        type(item) is pytest.Function  # pytest-asyncio replaces the items it runs
        and "async_client" in item.fixturenames
        and inspect.iscoroutinefunction(item.obj)
        and not any(item.get_closest_marker(name) for name in _ASYNC_MARKERS)
        and "anyio_backend" not in item.fixturenames  # anyio runs tests asking for it
    ):
        pytest.fail(
            f"{item.name} is an async test using `async_client`, but no plugin runs it: "
            "mark it @pytest.mark.asyncio (pytest-asyncio's strict mode, its default, runs "
            'only marked tests), or set asyncio_mode = "auto" in your pytest configuration',
            pytrace=False,
        )
