"""The Conduit app: the database, token auth, the spec's error shape and the /api routes.

    bastion --app examples.conduit.app:app db upgrade
    bastion --app examples.conduit.app:app db seed
    bastion run examples.conduit.app:app

The database is SQLite in ``./conduit.db`` (the current directory) unless a URL is set:
``BASTION_DATABASE_URL`` (or ``.env`` / ``bastion.toml``), else ``DATABASE_URL``; plain
``postgres://`` URLs are given the asyncpg driver (all three done by ``SQLAlchemyPlugin``).
Tags and article lists are cached in memory unless ``BASTION_CACHE_URL`` (or the ``cache_url``
setting) names another backend, e.g. ``redis://localhost:6379/0`` (see ``caching.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bastion import App, Plugin, Settings
from bastion.auth import PasswordHasher
from bastion.cache import CachePlugin
from bastion.db import SQLAlchemyPlugin
from bastion.middleware.cors import CORS
from bastion.notifications import NotificationsPlugin
from bastion.security import SecurityPlugin
from bastion.websockets.pubsub import PubSubPlugin

from .admin import conduit_admin
from .auth import Credentials
from .errors import EXCEPTION_HANDLERS
from .models import ConduitModel
from .routes import api
from .seed import seed

MIGRATIONS = Path(__file__).parent / "migrations"


class ConduitSettings(Settings, kw_only=True):
    """Bastion's settings, plus the cache's backend (``BASTION_CACHE_URL``, ``.env``,
    ``bastion.toml``); None: memory, one cache per process."""

    cache_url: str | None = None
    #: GraphQL at /graphql (``graphql_api.py``); False leaves it and Strawberry's import out,
    #: e.g. for a smaller cold start on Lambda (``BASTION_GRAPHQL=false``).
    graphql: bool = True


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    cache_url: str | None = None,
    hasher: PasswordHasher | None = None,
) -> App[Any]:
    """A Conduit app; tests pass their own database, cache and a cheaper password hasher."""
    settings = settings or ConduitSettings.load(app_name="conduit")
    database = SQLAlchemyPlugin(
        database_url, metadata=ConduitModel.metadata, seed=seed, migrations=MIGRATIONS
    )
    credentials = Credentials(settings, hasher)
    # A comment on your article notifies you: stored, and pushed on your topic user:<id>.
    notifications: list[Plugin] = [PubSubPlugin(), NotificationsPlugin()]
    # GET /api/tags and anonymous article lists, invalidated by the writes that change them.
    cache = CachePlugin(cache_url)  # after the database: BASTION_CACHE_URL=database works
    app: App[Any] = App(
        settings=settings,
        # Security headers (HSTS outside dev); no CSRF: tokens travel in a header, never a cookie.
        plugins=[
            database,
            cache,
            credentials.plugin(),
            SecurityPlugin(csrf=False),
            *notifications,
            conduit_admin(hasher=hasher),  # /admin for staff (see admin.py)
            *_graphql(settings),
        ],
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


def _graphql(settings: Settings) -> list[Plugin]:
    """/graphql over the same models and tokens (see graphql_api.py), unless turned off."""
    if not getattr(settings, "graphql", True):
        return []
    from .graphql_api import conduit_graphql

    return [conduit_graphql()]


app = create_app()
