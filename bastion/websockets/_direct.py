"""Writing a text frame straight to the server's transport, on servers where that is safe.

A server-to-client WebSocket frame is not masked, so without an extension negotiated
(permessage-deflate compresses per connection) the bytes of one message are the same for
every socket: a broadcast can frame its text once and hand those bytes to each transport.
Through ASGI each socket's ``send`` frames the message again and runs the server's own
checks, which is most of a fan-out's cost. ``direct_writer`` recognises a server whose
connection it can write to (uvicorn's ``websockets-sansio`` protocol, its default) and
returns a ``write(frame) -> bool`` that writes only when the server itself would write at
once (connection open, no close sent, the transport not pushing back) and says False
otherwise, so the caller falls back to ``send``, which waits, raises or closes as the
server decides. Anything else (another server, a wrapped ``send``, an extension) gets None.
"""

from __future__ import annotations

import asyncio
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Hashable
from typing import Any

from bastion.types import Send

#: ``write(frame bytes)``: True if written, False if the caller must go through ``send``.
DirectWrite = Callable[[bytes], bool]

#: Seconds a close frame may wait for a client that does not read; then the connection ends
#: without it (the server drops the socket once the app returns).
CLOSE_TIMEOUT = 5.0

_UVICORN_SANSIO = (
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "WebSocketsSansIOProtocol",
)


def direct_writer(send: Send) -> DirectWrite | None:
    """A direct writer for the accepted connection behind ``send``, or None."""
    protocol: Any = getattr(send, "__self__", None)
    kind = type(protocol)
    if (kind.__module__, kind.__qualname__) != _UVICORN_SANSIO:
        return None
    conn = getattr(protocol, "conn", None)
    transport = getattr(protocol, "transport", None)
    writable = getattr(protocol, "writable", None)
    if conn is None or transport is None or writable is None or conn.extensions:
        return None
    state = conn.state
    opened = type(state).OPEN
    if state is not opened:
        return None
    is_writable = writable.is_set
    is_closing = transport.is_closing
    write_bytes = transport.write

    def write(frame: bytes) -> bool:
        if (
            conn.state is not opened
            or protocol.close_sent
            or protocol.disconnected
            or not is_writable()
            or is_closing()
        ):
            return False
        write_bytes(frame)
        return True

    return write


def text_frame(data: bytes) -> bytes:
    """One unmasked, final text frame carrying ``data`` (UTF-8), as RFC 6455 §5.2 lays out."""
    size = len(data)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65_536:
        head = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + size.to_bytes(8, "big")
    return head + data


class TextFramer:
    """Frames texts, keeping the last one: a broadcast's text (one ``str`` shared by every
    socket with the same serializer) is encoded and framed once, however many sockets."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # One tuple, replaced whole: loops in other threads never see a text with another's
        # frame.
        self._last: tuple[str | None, bytes] = (None, b"")

    def __call__(self, text: str) -> bytes:
        last = self._last
        if last[0] is text:
            return last[1]
        frame = text_frame(text.encode())
        self._last = (text, frame)
        return frame


_framers: dict[Hashable, TextFramer] = {}


def framer_for(wire_format: Hashable) -> TextFramer:
    """One framer per wire format, shared by its connections: a broadcast's text (one
    ``str`` for all of them) becomes bytes once."""
    framer = _framers.get(wire_format)
    if framer is None:
        framer = _framers[wire_format] = TextFramer()
    return framer


class Writer:
    """Writes one connection's text frames in order, with no task while the server takes
    them at once: directly to the transport where ``direct`` allows, else by stepping the
    server's ``send`` once (on uvicorn that step writes and finishes). A write that has to
    wait (the client reads slowly, the transport pushed back) is finished by a task, and
    frames written meanwhile wait in a backlog of at most ``limit``: one more calls
    ``on_full`` (the caller closes the socket), so a slow client never grows memory. A write
    that fails calls ``on_lost`` (the client is gone). Either way nothing more is written.
    """

    __slots__ = (
        "backlog",
        "closed",
        "direct",
        "framer",
        "limit",
        "on_full",
        "on_lost",
        "send_text",
        "task",
    )

    def __init__(
        self,
        send_text: Callable[[str], Awaitable[None]],
        *,
        direct: DirectWrite | None,
        framer: TextFramer,
        limit: int,
        on_lost: Callable[[], None],
        on_full: Callable[[], None],
    ) -> None:
        self.send_text = send_text
        self.direct = direct
        self.framer = framer
        self.limit = limit
        self.on_lost = on_lost
        self.on_full = on_full
        self.closed = False
        self.backlog: deque[str] = deque()
        self.task: asyncio.Task[None] | None = None

    def write(self, text: str) -> None:
        if self.closed:
            return
        if self.task is not None:  # a write is waiting: keep the order
            if len(self.backlog) < self.limit:
                self.backlog.append(text)
                return
            self._stop()
            self.on_full()
            return
        direct = self.direct
        if direct is not None and direct(self.framer(text)):
            return
        try:
            write = self.send_text(text)
            if type(write) is not types.CoroutineType:
                write = _awaited(write)
            blocker = write.send(None)
        except StopIteration:
            return  # written
        except Exception:
            self._stop()
            self.on_lost()
            return
        self.task = asyncio.get_running_loop().create_task(self._finish(_Resumed(write, blocker)))

    async def _finish(self, pending: _Resumed) -> None:
        """Finish the write that had to wait, then the frames that came meanwhile."""
        try:
            await pending
            backlog = self.backlog
            while backlog and not self.closed:
                await self.send_text(backlog.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:
            self._stop()
            self.on_lost()
        finally:
            if self.task is asyncio.current_task():
                self.task = None

    def _stop(self) -> None:
        self.closed = True
        self.backlog.clear()

    async def stop(self) -> None:
        """Write nothing more; a waiting write is cancelled (a close frame may go next)."""
        self._stop()
        task = self.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class _Resumed:
    """Awaits a coroutine that was stepped by hand and stopped at ``blocker``: a task
    awaiting this carries it on from there, exactly as if the task had started it."""

    __slots__ = ("blocker", "coro")

    def __init__(self, coro: Coroutine[Any, Any, Any], blocker: Any) -> None:
        self.coro = coro
        self.blocker = blocker

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self.coro, self.blocker
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # cancellation goes on into the write
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return


async def _awaited(write: Awaitable[None]) -> None:
    await write
