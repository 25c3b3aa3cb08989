"""S3-compatible storage against a real server (moto's, started by the tests): streamed
multipart uploads under limits, presigned links the bucket answers with ETag and Range, and
a bucket that cannot be reached stopping the app at start-up."""

import hashlib
import hmac
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

import httpx
import pytest

from bastion import App, Settings
from bastion.exceptions import NotFound, PayloadTooLarge, ValidationError
from bastion.http.uploads import UploadFile
from bastion.params.markers import File
from bastion.storage import S3Storage, Storage, StoragePlugin, StoredFile
from bastion.storage.base import PART_SIZE, PARTS_IN_FLIGHT
from bastion.testing import TestClient
from tests._s3 import ACCESS_KEY, SECRET_KEY

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def s3(endpoint: str, bucket: str, **options: object) -> S3Storage:
    return S3Storage(
        bucket,
        prefix="uploads",
        endpoint=endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        **options,  # type: ignore[arg-type]
    )


def settings(endpoint: str, bucket: str, **more: object) -> Settings:
    return Settings(
        profile="test",
        storage_url=f"s3://{bucket}/uploads",
        storage_endpoint=endpoint,
        storage_access_key_id=ACCESS_KEY,
        storage_secret_access_key=SECRET_KEY,
        **more,  # type: ignore[arg-type]
    )


def test_an_upload_through_the_app_lands_in_the_bucket_and_its_link_serves_it(s3_endpoint, bucket):
    app = App(settings=settings(s3_endpoint, bucket), plugins=[StoragePlugin()])

    @app.post("/avatars")
    async def upload(avatar: Annotated[UploadFile, File()], storage: Storage) -> StoredFile:
        return await storage.save(avatar, prefix="avatars/", field="form.avatar")

    @app.get("/avatars/{key:path}")
    async def download(key: str, storage: Storage) -> object:
        return await storage.response(key)

    with TestClient(app) as client:
        stored = client.post("/avatars", files={"avatar": ("me.png", PNG, "text/plain")}).json()
        assert stored["content_type"] == "image/png" and stored["key"].startswith("avatars/")
        redirect = client.get(f"/avatars/{stored['key']}", follow_redirects=False)
        assert redirect.status_code == 307
    url = redirect.headers["location"]
    assert urlsplit(url).path == f"/{bucket}/uploads/{stored['key']}"
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == PNG
    assert whole.headers["content-type"] == "image/png"  # stored with the sniffed type
    assert httpx.get(url, headers={"if-none-match": whole.headers["etag"]}).status_code == 304
    part = httpx.get(url, headers={"range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == PNG[:8]


def _sigv4_signature(url: str, secret: str) -> str:
    """The presigned URL's SigV4 signature recomputed from its parts (independently of
    obstore), as S3 verifies it."""
    parts = urlsplit(url)
    pairs = [pair.split("=", 1) for pair in parts.query.split("&")]
    query = dict(pairs)
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs) if k != "X-Amz-Signature")
    canonical = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    date = query["X-Amz-Date"]
    scope = f"{date[:8]}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in (date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


async def test_presigned_links_are_sigv4_signed_with_their_expiry(s3_endpoint, bucket):
    storage = s3(s3_endpoint, bucket)
    stored = await storage.save(PNG)
    url = await storage.url(stored.key, expires_in=timedelta(minutes=2))
    query = dict(pair.split("=", 1) for pair in urlsplit(url).query.split("&"))
    assert query["X-Amz-Expires"] == "120"
    signed_at = time.mktime(time.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")) - time.timezone
    assert abs(signed_at - time.time()) < 60
    assert query["X-Amz-Signature"] == _sigv4_signature(url, SECRET_KEY)
    # Any change to the URL (another key, a longer life) no longer matches its signature.
    longer = url.replace("X-Amz-Expires=120", "X-Amz-Expires=604800")
    assert query["X-Amz-Signature"] != _sigv4_signature(longer, SECRET_KEY)
    assert query["X-Amz-Signature"] != _sigv4_signature(url, "another-secret")
    with pytest.raises(ValueError, match="1 second to 7 days"):
        await storage.url(stored.key, expires_in=timedelta(days=8))
    with pytest.raises(NotFound):
        await storage.url("../other-bucket/x")


async def test_limits_hold_on_s3_and_a_refused_stream_leaves_no_object(s3_endpoint, bucket):
    storage = s3(s3_endpoint, bucket, max_size=6 * 1024 * 1024)

    async def big() -> AsyncIterator[bytes]:
        yield PNG
        for _ in range(200):  # 12.5 MiB: past the limit after the first multipart part
            yield b"\0" * 65536

    with pytest.raises(PayloadTooLarge):
        await storage.save(big())
    with pytest.raises(ValidationError):
        await storage.save(b"<svg onload=alert(1)>")
    import obstore

    listed = [meta async for chunk in obstore.list(storage.store) for meta in chunk]
    assert listed == []


async def test_multipart_upload_streams_in_bounded_memory_and_reads_back(s3_endpoint, bucket):
    storage = s3(s3_endpoint, bucket, max_size=64 * 1024 * 1024)
    chunk, total = 64 * 1024, 32 * 1024 * 1024
    digest = hashlib.sha256()

    async def generated() -> AsyncIterator[bytes]:
        for n in range(total // chunk):
            piece = (
                PNG + b"\0" * (chunk - len(PNG)) if n == 0 else n.to_bytes(4, "big") * (chunk // 4)
            )
            digest.update(piece)
            yield piece

    tracemalloc.start()
    try:
        stored = await storage.save(generated())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # obstore holds the parts in flight (PART_SIZE each, PARTS_IN_FLIGHT of them): a bound
    # set by the storage, not by the file's size.
    assert stored.size == total
    assert peak < PART_SIZE * (PARTS_IN_FLIGHT + 1) < total / 2, peak
    assert (await storage.info(stored.key)).size == total
    read = hashlib.sha256()
    async for piece in storage.open(stored.key):
        read.update(piece)
    assert read.hexdigest() == digest.hexdigest()
    await storage.delete(stored.key)
    with pytest.raises(NotFound):
        await storage.info(stored.key)


def test_a_missing_bucket_stops_the_app_at_start_up(s3_endpoint):
    app = App(settings=settings(s3_endpoint, "no-such-bucket"), plugins=[StoragePlugin()])
    with pytest.raises(RuntimeError, match="ConfigurationError: .*does the bucket exist"):
        with TestClient(app):
            pass
