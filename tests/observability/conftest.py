import pytest

from bastion import App, Settings
from bastion.observability import ObservabilityPlugin

TOKEN = "management-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def make_app(*plugins, profile: str = "test", **options) -> App:
    """An app with the plugin (logging left alone, so tests do not touch the root logger)."""
    options.setdefault("token", TOKEN)
    options.setdefault("logs", None)
    return App(settings=Settings(profile=profile), plugins=[*plugins, ObservabilityPlugin(**options)])


@pytest.fixture
def auth() -> dict[str, str]:
    return dict(AUTH)
