from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import MetaData

from bastion import App, Settings
from bastion.db import SQLAlchemyPlugin


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Every data-layer test that takes this runs on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


def app_with_tables(
    url: str, metadata: MetaData | None = None, **options: Any
) -> tuple[App, SQLAlchemyPlugin]:
    """An app with the database plugin whose start-up recreates the tables of ``metadata``."""
    plugin = SQLAlchemyPlugin(url, metadata=metadata, **options)

    @asynccontextmanager
    async def tables(app: App):
        from bastion.db import Model

        assert plugin.engine is not None
        async with plugin.engine.begin() as connection:
            await connection.run_sync((metadata or Model.metadata).drop_all)
            await connection.run_sync((metadata or Model.metadata).create_all)
        yield

    app = App(settings=Settings(profile="test"), plugins=[plugin])
    app.lifespan_contexts.append(tables)
    return app, plugin
