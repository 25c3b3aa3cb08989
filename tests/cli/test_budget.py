"""The connection budget ``bastion serve`` checks before starting its workers, against a real
PostgreSQL (its default max_connections, 100, less 3 reserved for superusers)."""

from pathlib import Path

from bastion import App, Settings
from bastion.cli.budget import connection_budget
from bastion.db import SQLAlchemyPlugin
from tests._processes import free_port


def app_with(url: str, setting: int = 10, **options: object) -> App:
    """An app on ``url`` with ``database_pool_size=setting`` and the plugin's ``options``."""
    settings = Settings(profile="test", database_pool_size=setting)
    return App(settings=settings, plugins=[SQLAlchemyPlugin(url, **options)])


def test_workers_times_the_default_pool_beyond_max_connections_is_a_warning(
    postgres_url: str,
) -> None:
    warning = connection_budget(app_with(postgres_url, setting=10), workers=12)
    assert warning is not None
    assert "12 workers with up to 10 pooled connections each may open 120 connections" in warning
    assert "more than the 97 it accepts (max_connections 100" in warning
    assert "superuser_reserved_connections 3" in warning
    assert "fewer --workers" in warning and "BASTION_DATABASE_POOL_SIZE" in warning
    assert "PgBouncer" in warning


def test_a_budget_that_fits_is_silent(postgres_url: str) -> None:
    assert connection_budget(app_with(postgres_url, setting=10), workers=4) is None
    assert connection_budget(app_with(postgres_url, setting=97), workers=1) is None


def test_explicit_pool_options_count_pool_size_and_overflow(postgres_url: str) -> None:
    app = app_with(postgres_url, pool_size=20, max_overflow=5)
    warning = connection_budget(app, workers=4)
    assert warning is not None
    assert "4 workers with up to 25 pooled connections each may open 100 connections" in warning
    assert "pool_size" in warning
    assert connection_budget(app, workers=3) is None


def test_an_unreachable_database_does_not_stop_serve() -> None:
    url = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none"
    assert connection_budget(app_with(url), workers=1000) is None


def test_sqlite_has_no_budget(tmp_path: Path) -> None:
    assert connection_budget(app_with(f"sqlite+aiosqlite:///{tmp_path}/x.db"), 1000) is None
