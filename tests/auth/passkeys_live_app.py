"""The app the passkey browser test serves with uvicorn: accounts, sessions, CSRF and the
strict security headers, and PasskeyRoutes with its page. Settings come from the
environment (BASTION_WEBAUTHN_RP_ID, BASTION_WEBAUTHN_ORIGINS, BASTION_DATABASE_URL...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bastion import App, Settings
from bastion.auth import AuthPlugin, PasswordHasher, SessionAuth, SessionPlugin
from bastion.auth.models import load_user
from bastion.auth.passkeys import PasskeyRoutes
from bastion.auth.routes import AuthRoutes
from bastion.db import Model, SQLAlchemyPlugin
from bastion.security import SecurityPlugin


def create_app() -> App:
    database = SQLAlchemyPlugin()
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app = App(
        settings=Settings.load(env_file=None),
        plugins=[
            database,
            SessionPlugin(),
            SecurityPlugin(),
            AuthPlugin(SessionAuth(), load_user=load_user),
            AuthRoutes(hasher=hasher),
            PasskeyRoutes(),
        ],
    )

    @asynccontextmanager
    async def tables(app: App) -> AsyncIterator[None]:
        assert database.engine is not None
        async with database.engine.begin() as connection:
            await connection.run_sync(Model.metadata.create_all)
        yield

    app.lifespan_contexts.append(tables)
    return app
