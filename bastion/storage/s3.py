"""Files in an S3 bucket (AWS, or any S3-compatible server: MinIO, Ceph, R2...), linked by
presigned URLs: the bucket itself then answers downloads, with its own ETag and Range."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from urllib.parse import urlsplit

from bastion.exceptions import ConfigurationError
from bastion.http.response import RedirectResponse, Response
from bastion.storage._keys import checked
from bastion.storage._limits import Limits
from bastion.storage.base import DEFAULT_TYPES, ObjectStorage

#: The longest a presigned URL may live (SigV4's limit).
MAX_EXPIRY = timedelta(days=7)


class S3Storage(ObjectStorage):
    """``Storage`` in ``bucket`` under ``prefix``; ``endpoint`` for a server other than AWS.
    Credentials left None come from the environment (AWS_ACCESS_KEY_ID, roles...)."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        max_size: int = 10 * 1024 * 1024,
        allowed_types: Collection[str] = DEFAULT_TYPES,
    ) -> None:
        from obstore.store import S3Store

        where = f"S3Storage(s3://{bucket}/{prefix})"
        if not bucket or "/" in bucket:
            raise ConfigurationError(f"{where}: name the bucket, e.g. s3://my-bucket/uploads")
        if (access_key_id is None) != (secret_access_key is None):
            raise ConfigurationError(
                f"{where}: set both storage_access_key_id and storage_secret_access_key, or "
                "neither (to use the environment's credentials)"
            )
        config: dict[str, str] = {}
        options: dict[str, bool] = {}
        if endpoint is not None:
            scheme = urlsplit(endpoint).scheme
            if scheme not in ("http", "https") or not urlsplit(endpoint).netloc:
                raise ConfigurationError(
                    f"{where}: storage_endpoint={endpoint!r}; write the server's URL, e.g. "
                    "http://127.0.0.1:9000"
                )
            config["endpoint"] = endpoint
            config["virtual_hosted_style_request"] = "false"
            options["allow_http"] = scheme == "http"
        config["region"] = region or "us-east-1"
        if access_key_id is not None and secret_access_key is not None:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
        try:
            store = S3Store(
                bucket,
                prefix=prefix.strip("/") or None,
                config=config,  # type: ignore[arg-type]
                client_options=options,  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        self.bucket = bucket
        super().__init__(store, Limits.of(max_size, allowed_types, where), where)

    def _attributes(self, media_type: str) -> dict[str, str] | None:
        return {"Content-Type": media_type}

    async def check(self) -> None:
        """Reach the bucket once at start-up, so wrong credentials or a missing bucket
        stop the app with the reason instead of failing the first upload."""
        import obstore

        try:
            async for _ in obstore.list(self.store, chunk_size=1):
                break
        except Exception as exc:
            raise ConfigurationError(
                f"{self.where} is not reachable with these settings ({type(exc).__name__}: "
                f"{_first_line(exc)}); check storage_url (does the bucket exist?), "
                "storage_endpoint and the credentials"
            ) from None

    async def url(self, key: str, *, expires_in: timedelta = timedelta(minutes=15)) -> str:
        import obstore

        if not timedelta(seconds=1) <= expires_in <= MAX_EXPIRY:
            raise ValueError(f"expires_in={expires_in}: S3 takes 1 second to 7 days")
        return await obstore.sign_async(self.store, "GET", checked(key), expires_in)

    async def response(self, key: str) -> Response:
        """A redirect to a short-lived presigned URL: the bucket sends the bytes."""
        return RedirectResponse(await self.url(key, expires_in=timedelta(minutes=5)), 307)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"
