"""Local-disk storage: streamed uploads under size and type limits, signed expiring links
served with ETag and Range, no way out of the root, and start-up errors that say the fix."""

import hashlib
import os
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import pytest

from bastion import App, Settings
from bastion.exceptions import ConfigurationError, NotFound, PayloadTooLarge, ValidationError
from bastion.http.uploads import UploadFile
from bastion.params.markers import File
from bastion.storage import LocalStorage, Storage, StoragePlugin, StoredFile, storage_from_settings
from bastion.storage.base import PART_SIZE, PARTS_IN_FLIGHT
from bastion.testing import TestClient

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
PDF = b"%PDF-1.7\n" + b"0" * 5000


def make_app(root: Path, **settings: object) -> App:
    values = {"profile": "test", "storage_url": root.as_uri(), **settings}
    app = App(settings=Settings(**values), plugins=[StoragePlugin()])  # type: ignore[arg-type]

    @app.post("/avatars", max_body_size=64 * 1024 * 1024)
    async def upload(avatar: Annotated[UploadFile, File()], storage: Storage) -> StoredFile:
        return await storage.save(avatar, prefix="avatars/", field="form.avatar")

    @app.get("/link/{key:path}")
    async def link(key: str, storage: Storage, seconds: int = 60) -> dict[str, str]:
        return {"url": await storage.url(key, expires_in=timedelta(seconds=seconds))}

    return app


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_an_upload_is_stored_under_a_random_key_with_its_sniffed_type(tmp_path):
    with TestClient(make_app(tmp_path)) as client:
        response = client.post("/avatars", files={"avatar": ("../../me.exe", PNG, "text/html")})
        assert response.status_code == 201
        stored = response.json()
        assert stored["content_type"] == "image/png" and stored["size"] == len(PNG)
        assert stored["key"].startswith("avatars/") and stored["key"].endswith(".png")
        assert "me" not in stored["key"]  # the client's name is never a path
        assert stored_files(tmp_path) == [tmp_path / stored["key"]]
        assert (tmp_path / stored["key"]).read_bytes() == PNG


def test_a_signed_link_serves_the_file_with_etag_and_ranges(tmp_path):
    with TestClient(make_app(tmp_path)) as client:
        key = client.post("/avatars", files={"avatar": ("a.png", PNG)}).json()["key"]
        url = client.get(f"/link/{key}").json()["url"]
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == PNG
        assert whole.headers["content-type"] == "image/png"
        assert whole.headers["x-content-type-options"] == "nosniff"
        assert client.get(url, headers={"if-none-match": whole.headers["etag"]}).status_code == 304
        part = client.get(url, headers={"range": "bytes=8-15"})
        assert part.status_code == 206 and part.content == PNG[8:16]
        assert part.headers["content-range"] == f"bytes 8-15/{len(PNG)}"
        assert client.head(url).headers["content-length"] == str(len(PNG))


def test_expired_tampered_and_unsigned_links_are_403_problems(tmp_path):
    with TestClient(make_app(tmp_path)) as client:
        key = client.post("/avatars", files={"avatar": ("a.png", PNG)}).json()["key"]
        expired = client.get(f"/link/{key}", params={"seconds": -1}).json()["url"]
        valid = client.get(f"/link/{key}").json()["url"]
        path, _, query = valid.partition("?")
        expires = int(query.split("expires=")[1].split("&")[0])
        signature = query.split("signature=")[1]
        flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
        other = client.post("/avatars", files={"avatar": ("b.png", PNG)}).json()["key"]
        for url in (
            expired,
            f"{path}?expires={expires}&signature={flipped}",
            f"{path}?expires={expires + 3600}&signature={signature}",  # a longer life
            f"/files/{other}?expires={expires}&signature={signature}",  # another file
            path,
            f"{path}?expires=abc&signature={signature}",
        ):
            response = client.get(url)
            assert response.status_code in (403, 422), url
            assert response.headers["content-type"] == "application/problem+json"
        assert "expired" in client.get(expired).json()["detail"]


def test_no_key_reaches_outside_the_root(tmp_path):
    root = tmp_path / "files"
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (root / "avatars").mkdir(parents=True)
    os.symlink(secret, root / "avatars" / "link.txt")
    storage = LocalStorage(root, secret="k" * 32)
    with TestClient(make_app(root, secret_key="k" * 32)) as client:
        for key in ("../secret.txt", "avatars/../../secret.txt", "avatars/link.txt", ".hidden"):
            url = f"/files/{key}?expires={int(time.time()) + 60}&signature=x"
            assert client.get(url).status_code in (403, 404)
        # Even a correctly signed link cannot follow a symlink out of the root.
        import asyncio

        linked = asyncio.run(storage.url("avatars/link.txt"))
        response = client.get(linked)
        assert response.status_code == 404 and b"private" not in response.content
        for key in ("../secret.txt", "/etc/passwd", "a\\b", "a/./b", "a//b", "x\x00y"):
            with pytest.raises(NotFound):
                asyncio.run(storage.url(key))
        for call in (storage.info, storage.delete):
            with pytest.raises(NotFound):
                asyncio.run(call("avatars/link.txt"))
        with pytest.raises(NotFound):
            storage.open("avatars/link.txt")
        assert secret.read_text() == "private"


def test_a_file_over_the_size_limit_is_413_and_leaves_nothing(tmp_path):
    with TestClient(make_app(tmp_path, storage_max_file_size=4096)) as client:
        response = client.post("/avatars", files={"avatar": ("a.png", PNG)})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert "4096" in response.json()["detail"]
    assert stored_files(tmp_path) == []


async def test_a_stream_over_the_size_limit_stops_midway_and_leaves_nothing(tmp_path):
    storage = LocalStorage(tmp_path, max_size=1024 * 1024)
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        yield PNG
        while True:
            produced += 65536
            yield b"\0" * 65536

    with pytest.raises(PayloadTooLarge):
        await storage.save(endless())
    assert produced < 2 * 1024 * 1024  # stopped reading soon after the limit
    assert stored_files(tmp_path) == []


def test_a_type_outside_the_allow_list_is_422_naming_the_field(tmp_path):
    with TestClient(make_app(tmp_path)) as client:
        # An HTML page calling itself a PNG is judged by its bytes.
        page = b"<html><script>alert(1)</script></html>"
        response = client.post("/avatars", files={"avatar": ("a.png", page, "image/png")})
        assert response.status_code == 422
        error = response.json()["errors"][0]
        assert error["field"] == "form.avatar" and "image/png" in error["reason"]
        unknown = client.post("/avatars", files={"avatar": ("a.png", b"\x00\x01\x02" * 100)})
        assert unknown.status_code == 422
        assert client.post("/avatars", files={"avatar": ("a.pdf", PDF)}).status_code == 201
        assert client.post("/avatars", files={"avatar": ("empty.png", b"")}).status_code == 422
    assert [p.suffix for p in stored_files(tmp_path)] == [".pdf"]


async def test_per_call_limits_override_the_storage_s(tmp_path):
    storage = LocalStorage(tmp_path)
    with pytest.raises(ValidationError):
        await storage.save(PNG, allowed_types=["application/pdf"])
    with pytest.raises(PayloadTooLarge):
        await storage.save(PDF, max_size=100)
    text = await storage.save(b"hello\n", allowed_types=["text/plain"])
    assert text.content_type == "text/plain" and text.key.endswith(".txt")


async def test_uploads_stream_in_bounded_memory(tmp_path):
    """64 MiB go through while Python holds a few parts and the process grows far less."""
    storage = LocalStorage(tmp_path, max_size=128 * 1024 * 1024)
    chunk = 64 * 1024
    total = 64 * 1024 * 1024
    digest = hashlib.sha256()
    sizes: set[int] = set()

    async def generated() -> AsyncIterator[bytes]:
        data = PNG + b"\0" * (chunk - len(PNG))
        for n in range(total // chunk):
            piece = data if n == 0 else n.to_bytes(8, "big") * (chunk // 8)
            digest.update(piece)
            sizes.add(len(piece))
            yield piece

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = rss()
    tracemalloc.start()
    try:
        stored = await storage.save(generated())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = rss() - before
    assert stored.size == total and sizes == {chunk}
    # Python side: the parts in flight (obstore keeps the chunks of a part until it is
    # written), not the file; measured at two parts, the bound allows the one being filled.
    assert peak < PART_SIZE * (PARTS_IN_FLIGHT + 1), peak
    assert grown < 32 * 1024 * 1024, grown  # whole process: far below the 64 MiB sent
    assert hashlib.sha256((tmp_path / stored.key).read_bytes()).hexdigest() == digest.hexdigest()
    read = hashlib.sha256()
    async for piece in storage.open(stored.key):
        assert len(piece) <= 4 * 1024 * 1024
        read.update(piece)
    assert read.hexdigest() == digest.hexdigest()


def test_a_large_multipart_upload_arrives_whole(tmp_path):
    body = PNG + os.urandom(8 * 1024 * 1024)
    with TestClient(make_app(tmp_path, storage_max_file_size=16 * 1024 * 1024)) as client:
        stored = client.post("/avatars", files={"avatar": ("big.png", body)}).json()
    assert (tmp_path / stored["key"]).read_bytes() == body


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"storage_url": "file://uploads"}, "file:///absolute/path"),
        ({"storage_url": "ftp://host/x"}, "file:///absolute/folder or s3://bucket/prefix"),
        ({"storage_url": None, "profile": "prod", "secret_key": "s" * 40}, "BASTION_STORAGE_URL"),
        ({"storage_allowed_types": ["image/svg+xml"]}, "cannot be recognised"),
        ({"storage_url": "s3://"}, "name the bucket"),
        ({"storage_url": "s3://b", "storage_endpoint": "127.0.0.1:9000"}, "http://127.0.0.1"),
        ({"storage_url": "s3://b", "storage_access_key_id": "a"}, "or neither"),
    ],
)
def test_misconfiguration_fails_at_start_up_saying_what_to_change(tmp_path, settings, says):
    values = {"profile": "test", "storage_url": tmp_path.as_uri(), **settings}
    with pytest.raises(ConfigurationError, match=None) as caught:
        storage_from_settings(Settings(**values))  # type: ignore[arg-type]
    assert says in str(caught.value)


def test_a_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(ConfigurationError, match="name a folder"):
        LocalStorage(tmp_path / "taken")
    with pytest.raises(ConfigurationError, match="absolute"):
        LocalStorage("relative/uploads")
