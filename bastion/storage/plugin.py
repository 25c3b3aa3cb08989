"""``StoragePlugin``: the app's ``Storage`` from the settings, injected by type, with the
route that serves local files' signed links.

    app = App(plugins=[StoragePlugin()])        # storage_url=file:///srv/uploads or s3://...

    @app.post("/avatars")
    async def upload(avatar: Annotated[UploadFile, File()], storage: Storage) -> StoredFile:
        return await storage.save(avatar, prefix="avatars/", field="form.avatar")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from bastion.exceptions import ConfigurationError
from bastion.http.response import Response
from bastion.params.markers import Query
from bastion.routing.router import Router
from bastion.storage.base import Storage
from bastion.storage.local import LocalStorage
from bastion.storage.s3 import S3Storage


def storage_from_settings(settings: Any, *, url_prefix: str = "/files") -> Storage:
    """The storage ``settings.storage_url`` names; a sentence saying what to change if it
    names none that works."""
    url = settings.storage_url
    limits = {
        "max_size": settings.storage_max_file_size,
        "allowed_types": settings.storage_allowed_types,
    }
    if url is None:
        if settings.profile == "prod":
            raise ConfigurationError(
                "StoragePlugin has nowhere to keep files in the prod profile: set "
                "BASTION_STORAGE_URL to file:///absolute/folder or s3://bucket/prefix"
            )
        url = (Path.cwd() / "uploads").as_uri()
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigurationError(
                f"storage_url={url!r} names the host {parts.netloc!r}; a folder is written "
                "file:///absolute/path (three slashes)"
            )
        return LocalStorage(
            unquote(parts.path), secret=settings.secret_key, url_prefix=url_prefix, **limits
        )
    if parts.scheme == "s3":
        return S3Storage(
            parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint=settings.storage_endpoint,
            region=settings.storage_region,
            access_key_id=settings.storage_access_key_id,
            secret_access_key=settings.storage_secret_access_key,
            **limits,
        )
    raise ConfigurationError(
        f"storage_url={url!r}: use file:///absolute/folder or s3://bucket/prefix"
    )


class StoragePlugin:
    """Provides ``Storage`` to handlers; ``storage=`` overrides the settings. With a local
    storage it serves signed links under ``url_prefix``; an S3 storage's bucket is reached
    at start-up, so bad credentials stop the app rather than the first upload."""

    def __init__(self, storage: Storage | None = None, *, url_prefix: str = "/files") -> None:
        self.storage = storage
        self.url_prefix = url_prefix

    def on_app_init(self, app: Any) -> None:
        if any(isinstance(p, StoragePlugin) and p is not self for p in app.plugins):
            raise ConfigurationError("App(plugins=[...]) has two StoragePlugin instances; keep one")
        storage = self.storage or storage_from_settings(app.settings, url_prefix=self.url_prefix)
        self.storage = storage

        async def provide_storage() -> Storage:
            return storage

        app.provide(Storage, provide_storage)
        if isinstance(storage, LocalStorage):
            app.include(_file_routes(storage))
        if isinstance(storage, S3Storage):
            checked_storage = storage

            @asynccontextmanager
            async def reach(app: Any) -> AsyncIterator[None]:
                await checked_storage.check()
                yield

            app.lifespan_contexts.append(reach)


def _file_routes(storage: LocalStorage) -> Router:
    router = Router(storage.url_prefix, tags=["files"])

    @router.get("/{key:path}", name="storage_file", include_in_schema=False)
    async def storage_file(
        key: str,
        expires: Annotated[int | None, Query(ge=0, le=2**40)] = None,
        signature: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        storage.verify(key, expires, signature)
        return await storage.response(key)

    return router
