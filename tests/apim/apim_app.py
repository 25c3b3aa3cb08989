"""The app the API-management tests serve, in process or under uvicorn (``app`` is built from
``APIM_DATABASE_URL``, ``APIM_STORE`` and ``APIM_FLUSH`` when those are set)."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any

from bastion import App, Settings
from bastion.apim import APIManagement, Metered, MeterStore, by_api_key
from bastion.auth import AuthPlugin, CurrentUser, JWTAuth
from bastion.auth.apikeys import APIKey, APIKeyAuth
from bastion.db import Model, SQLAlchemyPlugin
from bastion.exceptions import NotFound

SECRET = "test-secret-key-with-at-least-32-characters"
SCOPES = {"reports:read": "Read the yearly reports", "reports:write": "File reports"}


def build(
    database_url: str,
    store: str | MeterStore = "memory",
    *,
    flush_interval: float = 5.0,
    reset: bool = False,
) -> tuple[App[Any], JWTAuth, APIManagement]:
    """The app; ``reset`` empties the keys table at start-up (a shared PostgreSQL)."""
    database = SQLAlchemyPlugin(database_url)
    keys = APIKeyAuth(database)
    jwt = JWTAuth(secret=SECRET)
    apim = APIManagement(keys, store=store, flush_interval=flush_interval, scopes=SCOPES)
    app = App(
        settings=Settings(profile="test", secret_key=SECRET),
        plugins=[database, AuthPlugin(jwt, keys), apim],
    )

    @asynccontextmanager
    async def tables(app: App[Any]):
        assert database.engine is not None
        async with database.engine.begin() as connection:
            if reset:
                await connection.run_sync(APIKey.__table__.drop, checkfirst=True)
            await connection.run_sync(
                Model.metadata.create_all, tables=[APIKey.__table__], checkfirst=True
            )
        yield

    app.lifespan_contexts.append(tables)
    metered = Metered("10/day", key=by_api_key())

    @app.get("/reports/{year:int}", middleware=[metered])
    async def report(year: int, user: CurrentUser) -> dict[str, Any]:
        if year < 2000:
            raise NotFound(f"No report for {year}")
        return {"year": year, "owner": user.subject, "pid": os.getpid()}

    return app, jwt, apim


if "APIM_DATABASE_URL" in os.environ:
    app, _, _ = build(
        os.environ["APIM_DATABASE_URL"],
        os.environ.get("APIM_STORE", "memory"),
        flush_interval=float(os.environ.get("APIM_FLUSH", "5")),
    )
