"""The Redis cache's pipelined read connection on a real server: credentials and database,
many batches in flight, and a server that does not answer or refuses the password."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bastion.cache import Cache
from bastion.cache.backend import BackendUnavailable
from bastion.cache.redis import RedisBackend
from tests._redis import redis_server


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[str]:
    """A server of its own with a password on the default user and a user ``reader``."""
    with redis_server(tmp_path) as (url, _):
        port = int(url.rsplit(":", 1)[1].split("/")[0])

        async def secure() -> None:
            client = Redis.from_url(url)
            await client.execute_command(
                "ACL", "SETUSER", "reader", "on", ">reader-secret", "~*", "+@all"
            )
            await client.config_set("requirepass", "default-secret")
            await client.aclose()

        asyncio.run(secure())
        yield f"127.0.0.1:{port}"


async def test_reads_log_in_and_select_the_database_of_the_url(secured: str) -> None:
    for url in (
        f"redis://:default-secret@{secured}/3",
        f"redis://reader:reader-secret@{secured}/3",
    ):
        backend = RedisBackend(url)
        await backend.start()
        await backend.set("k", b"in database 3", None)
        assert await backend.get("k") == b"in database 3"
        assert backend._reads is not None  # the pipelined connection, not redis-py
        other = Redis.from_url(f"redis://:default-secret@{secured}/0")
        assert await other.get("k") is None  # not written to database 0
        await other.aclose()
        await backend.stop()


async def test_a_wrong_password_makes_reads_misses_not_errors(secured: str) -> None:
    cache = Cache(RedisBackend(f"redis://:wrong@{secured}/0", timeout=0.5), prefix="p")
    await cache.start()
    assert await cache.get("k") is None  # logged as the store being down, answered as a miss
    await cache.stop()


async def test_batches_in_flight_at_once_get_their_own_replies(redis_url: str) -> None:
    backend = RedisBackend(redis_url)
    await backend.start()
    await backend.set_many([(f"order:{i}", str(i).encode()) for i in range(300)], None)

    async def read(i: int) -> bytes | None:
        for _ in range(i % 7):  # spread the reads over loop turns: many MGETs pipelined
            await asyncio.sleep(0)
        return await backend.get(f"order:{i}")

    values = await asyncio.gather(*(read(i) for i in range(300)))
    assert values == [str(i).encode() for i in range(300)]
    await backend.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts and reads but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    listener.close()


async def test_a_server_that_does_not_answer_times_out_as_unavailable(silent_server: int) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{silent_server}/0", timeout=0.3)
    await backend.start()
    started = time.perf_counter()
    with pytest.raises(BackendUnavailable, match="within 0.3 s"):
        await backend.get("k")
    assert time.perf_counter() - started < 2
    await backend.stop()


async def test_reads_recover_after_the_server_comes_back(tmp_path: Path) -> None:
    with redis_server(tmp_path) as (url, process):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        backend = RedisBackend(url, timeout=0.5)
        await backend.start()
        await backend.set("k", b"v", None)
        assert await backend.get("k") == b"v"
        process.terminate()
        process.wait(10)
        with pytest.raises(BackendUnavailable):
            await backend.get("k")
        with redis_server(tmp_path, port=port):
            await backend.set("k", b"again", None)
            assert await backend.get("k") == b"again"
        await backend.stop()


async def test_a_script_the_server_forgot_is_sent_whole(redis_url: str) -> None:
    """After a restart (or SCRIPT FLUSH) EVALSHA meets NOSCRIPT: the source goes instead."""
    import hashlib

    from redis import exceptions

    from bastion._redis_pipe import RedisPipe

    pipe = RedisPipe.for_url(redis_url, timeout=1.0)
    assert pipe is not None
    source = "return ARGV[1] .. '!'"
    sha = hashlib.sha1(source.encode()).hexdigest()
    await pipe.execute("SCRIPT", "FLUSH")
    assert await pipe.evalsha(sha, source, [], ["hi"]) == b"hi!"
    assert await pipe.execute("EVALSHA", sha, 0, "again") == b"again!"  # now it is known
    with pytest.raises(exceptions.ResponseError, match="WRONGTYPE"):
        await pipe.execute("SET", "pipe:list", "x")
        await pipe.execute("LPUSH", "pipe:list", "y")
    await pipe.close()
