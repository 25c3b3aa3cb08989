"""The cache benchmark's apps (benchmarks/cache/run): one JSON route that does 2 ms of work per
miss, served from Bastion's memory cache (``memory``) and Redis cache (``redis``, at
``BENCH_REDIS_URL``), and ``raw``: a hand-written ASGI callable answering the same bytes."""

import hashlib
import os
import time

from bastion import App, Settings
from bastion.cache import CachePlugin, CachePolicy

ARTICLES = [
    {
        "slug": f"article-{i}",
        "title": f"Notes on the engine, part {i}",
        "favorites": i * 7,
        "tags": ["history", "computing"],
    }
    for i in range(20)
]
WORK = 0.002  # seconds of CPU per miss: what the cache saves


def expensive() -> dict:
    deadline = time.perf_counter() + WORK
    while time.perf_counter() < deadline:
        pass
    return {"articles": ARTICLES, "count": len(ARTICLES)}


def bastion_app(spec: str) -> App:
    app = App(
        settings=Settings(profile="prod", debug=False, secret_key="bench-" + "x" * 40),
        plugins=[CachePlugin(spec)],
    )

    @app.get("/json", middleware=[CachePolicy(ttl=3600)])
    async def articles() -> dict:
        return expensive()

    @app.get("/plaintext")
    async def plaintext() -> str:  # what the harness polls until the server is up
        return "Hello, World!"

    return app


memory = bastion_app("memory")
redis = bastion_app(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))

# -- raw: the same body and the headers a cached answer carries, computed once ---------------
import msgspec  # noqa: E402

BODY = msgspec.json.encode(expensive())
HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"max-age=3600"),
    (b"etag", b'W/"' + hashlib.blake2b(BODY, digest_size=16).hexdigest().encode() + b'"'),
    (b"age", b"0"),
    (b"content-length", str(len(BODY)).encode()),
]
TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]


async def raw(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/json":
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": TEXT})
        await send({"type": "http.response.body", "body": b"Hello, World!"})
