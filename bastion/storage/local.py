"""Files in a folder on the local disk, linked by HMAC-signed, expiring URLs.

``url()`` gives ``/files/<key>?expires=<unix time>&signature=<HMAC>``; the route that
``StoragePlugin`` adds checks both and sends the file with ``FileResponse`` (ETag,
Last-Modified, 304, Range), as static files are sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import AsyncIterator, Collection
from datetime import timedelta
from pathlib import Path

from bastion.exceptions import ConfigurationError, Forbidden, NotFound
from bastion.http.files import FileResponse
from bastion.http.response import Response
from bastion.storage._keys import checked, is_key
from bastion.storage._limits import Limits
from bastion.storage.base import DEFAULT_TYPES, ObjectStorage, StoredFile, media_type_of

_PROCESS_SECRET = secrets.token_bytes(32)
#: Served files never run as a page of the site, whatever a browser makes of them.
_SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private, max-age=300",
}


class LocalStorage(ObjectStorage):
    """``Storage`` in ``root`` (created if missing). ``secret`` signs download URLs (the
    settings' ``secret_key`` through ``StoragePlugin``; without one, a random key per
    process: links then die with it); ``url_prefix`` is where the plugin serves them."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        secret: str | None = None,
        url_prefix: str = "/files",
        max_size: int = 10 * 1024 * 1024,
        allowed_types: Collection[str] = DEFAULT_TYPES,
    ) -> None:
        from obstore.store import LocalStore

        where = f"LocalStorage({str(root)!r})"
        path = Path(root)
        if not path.is_absolute():
            raise ConfigurationError(
                f"{where}: use an absolute folder, e.g. file:///var/lib/myapp/uploads, so the "
                "files do not move with the working directory"
            )
        if path.exists() and not path.is_dir():
            raise ConfigurationError(f"{where} is a file; name a folder for the uploads")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"{where}: cannot create the folder ({exc.strerror}); create it or choose "
                "another storage_url"
            ) from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigurationError(
                f"{where}: the app's user cannot write there; change the folder's owner or "
                "choose another storage_url"
            )
        if not url_prefix.startswith("/") or url_prefix.endswith("/"):
            raise ConfigurationError(f"{where}: url_prefix={url_prefix!r}; write it like /files")
        self.root = path.resolve()
        self.url_prefix = url_prefix
        self._secret = secret.encode() if secret else _PROCESS_SECRET
        limits = Limits.of(max_size, allowed_types, where)
        super().__init__(LocalStore(self.root), limits, where)

    def _signature(self, key: str, expires: int) -> str:
        message = f"bastion.storage\x00{key}\x00{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def url(self, key: str, *, expires_in: timedelta = timedelta(minutes=15)) -> str:
        expires = int(time.time() + expires_in.total_seconds())
        key = checked(key)
        return (
            f"{self.url_prefix}/{key}?expires={expires}&signature={self._signature(key, expires)}"
        )

    def verify(self, key: str, expires: int | None, signature: str | None) -> None:
        """Raise 403 unless the link was made by ``url()`` for ``key`` and is still valid."""
        if expires is None or signature is None or not is_key(key):
            raise Forbidden("This link is not valid: ask for a new one")
        expected = self._signature(key, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Forbidden("This link is not valid: ask for a new one")
        if expires < time.time():
            raise Forbidden("This link has expired: ask for a new one")

    def path_of(self, key: str) -> Path:
        """The file behind ``key``, proven inside the root (a symlink cannot lead out)."""
        target = (self.root / checked(key)).resolve()
        if not target.is_relative_to(self.root):
            raise NotFound("No such file")
        return target

    def open(self, key: str) -> AsyncIterator[bytes]:
        self.path_of(key)  # obstore would follow a symlink out of the root
        return super().open(key)

    async def info(self, key: str) -> StoredFile:
        self.path_of(key)
        return await super().info(key)

    async def delete(self, key: str) -> None:
        self.path_of(key)
        await super().delete(key)

    async def response(self, key: str) -> Response:
        return FileResponse(
            self.path_of(key),
            headers=_SAFE_HEADERS,
            media_type=media_type_of(key),
            filename=key.rpartition("/")[2],
            content_disposition="inline",
        )
