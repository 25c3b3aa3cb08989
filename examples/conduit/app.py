"""The Conduit app: the database, token auth, the spec's error shape and the /api routes.

    bastion --app examples.conduit.app:app db --directory examples/conduit/migrations upgrade
    bastion --app examples.conduit.app:app db --directory examples/conduit/migrations seed
    bastion run examples.conduit.app:app

The database is SQLite in ``./conduit.db`` (the current directory) unless a URL is set:
``BASTION_DATABASE_URL`` (or ``.env`` / ``bastion.toml``), else ``DATABASE_URL``; plain
``postgres://`` URLs are given the asyncpg driver.
"""

from __future__ import annotations

import os
from typing import Any

from bastion import App, Settings
from bastion.auth import PasswordHasher
from bastion.db import SQLAlchemyPlugin
from bastion.middleware.cors import CORS

from .auth import Credentials
from .errors import EXCEPTION_HANDLERS
from .models import ConduitModel
from .routes import api
from .seed import seed

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./conduit.db"


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    hasher: PasswordHasher | None = None,
) -> App[Any]:
    """A Conduit app; tests pass their own database and a cheaper password hasher."""
    settings = settings or Settings.load(app_name="conduit")
    url = database_url or settings.database_url or os.environ.get("DATABASE_URL")
    database = SQLAlchemyPlugin(
        with_async_driver(url or DEFAULT_DATABASE_URL), metadata=ConduitModel.metadata, seed=seed
    )
    credentials = Credentials(settings, hasher)
    app: App[Any] = App(
        settings=settings,
        plugins=[database, credentials.plugin()],
        # Any RealWorld frontend, from any origin: tokens travel in a header, never a cookie.
        middleware=[CORS(allow_origins=["*"], allow_headers=["authorization"])],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        title="Conduit",
        version="1.0.0",
        description="The RealWorld example API (https://realworld-docs.netlify.app) on Bastion. "
        "Authenticate with `Authorization: Token <jwt>` from register or login.",
    )
    app.provide(Credentials, lambda: credentials, scope="app")
    app.include(api())
    return app


def with_async_driver(url: str) -> str:
    """``postgres://…`` and ``postgresql://…`` (as hosting platforms write them) go through
    asyncpg, ``sqlite:///…`` through aiosqlite."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


app = create_app()
