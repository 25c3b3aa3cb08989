"""Redis commands pipelined on one connection, replies parsed by hiredis.

Through redis-py's pool a command costs tens of microseconds of client CPU (a connection
checked out and back, a command object, its parser's buffers): more than the rest of a cached
response, and a third of a job's enqueue. Here a command is a few bytes written to one
connection kept open, and its reply a future resolved in ``data_received``: Redis answers in
the order commands arrive, so a queue of futures is all the bookkeeping, and any number of
commands can be in flight at once. Only for commands that answer at once (never BLPOP).

Errors are redis-py's, so callers handle both paths alike: ``ConnectionError`` when the
connection cannot be made or is lost (the next command connects again), ``TimeoutError``
after ``timeout`` seconds (the connection is dropped, as its replies could no longer be
matched), ``ResponseError`` for an error reply.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
from redis import exceptions as errors

Arg = bytes | str | int | float


class RedisPipe:
    """Commands on one pipelined connection to ``host:port`` (made at the first command)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.tls = ssl.create_default_context() if tls else None
        self.handshake: list[bytes] = []
        if password is not None:
            self.handshake.append(_command(["AUTH", *([username] if username else []), password]))
        if db:
            self.handshake.append(_command(["SELECT", db]))
        self._protocol: _Replies | None = None
        self._connecting: asyncio.Future[_Replies] | None = None

    @classmethod
    def for_url(cls, url: str, timeout: float | None) -> RedisPipe | None:
        """One for a ``redis://`` or ``rediss://`` URL; None for what only redis-py speaks
        (a Unix socket)."""
        from redis.connection import SSLConnection, parse_url

        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        if "path" in options:
            return None
        return cls(
            options.get("host", "localhost"),
            int(options.get("port", 6379)),
            db=int(options.get("db", 0)),
            username=options.get("username"),
            password=options.get("password"),
            tls=options.get("connection_class") is SSLConnection,
            timeout=timeout,
        )

    async def execute(self, *parts: Arg) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        return await protocol.send(_command(parts), self.timeout)

    async def evalsha(self, sha: str, source: str, keys: list[Arg], args: list[Arg]) -> Any:
        """A script by its digest, sent whole the first time this server meets it."""
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except errors.ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.execute("EVAL", source, len(keys), *keys, *args)

    async def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()

    async def _connect(self) -> _Replies:
        """The connection, made once however many commands wait for it."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Replies:
        loop = asyncio.get_running_loop()
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(self.timeout):
                _, protocol = await loop.create_connection(
                    _Replies, self.host, self.port, ssl=self.tls
                )
                for command in self.handshake:
                    await protocol.send(command, self.timeout)
        except errors.ResponseError as exc:  # AUTH or SELECT refused
            raise errors.AuthenticationError(f"Redis at {where} refused us: {exc}") from None
        except errors.RedisError:
            raise
        except TimeoutError:
            raise errors.TimeoutError(
                f"no connection to Redis at {where} within {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise errors.ConnectionError(f"cannot connect to Redis at {where}: {exc}") from exc
        self._protocol = protocol
        return protocol


class _Replies(asyncio.Protocol):
    """The socket's side: commands out, each reply to the oldest waiter."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes, timeout: float | None) -> asyncio.Future[Any]:
        if self.lost or self.transport is None:
            raise errors.ConnectionError("the connection to Redis was lost")
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.waiters.append(waiter)
        self.transport.write(data)
        if timeout is not None:
            timer = loop.call_later(timeout, self._timed_out, waiter, timeout)
            waiter.add_done_callback(lambda _: timer.cancel())
        return waiter

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiters = self.waiters
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(errors.ConnectionError(f"Redis sent what is not RESP: {exc}"))
                return
            if reply is False:
                return
            if not waiters:
                self._fail(errors.ConnectionError("Redis answered a command it was not sent"))
                return
            waiter = waiters.popleft()
            if waiter.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(errors.ResponseError(str(reply)))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(errors.ConnectionError(f"the connection to Redis was lost: {exc or 'closed'}"))

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def _timed_out(self, waiter: asyncio.Future[Any], timeout: float) -> None:
        if not waiter.done():  # its reply can no longer be told from the next one's
            self._fail(errors.TimeoutError(f"Redis did not answer within {timeout:g} s"))

    def _fail(self, error: Exception) -> None:
        self.close()
        waiters, self.waiters = self.waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)


def _command(parts: Sequence[Arg]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        elif not isinstance(part, bytes):
            part = repr(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)
