"""The probe's half that needs a real server: raw bytes over a socket that no in-process
client can send (broken request lines, header injection, smuggling, slow and partial
requests), against the kitchen-sink app under uvicorn.

No answer may be a 5xx, nothing may hang (every socket has a short timeout, and a stalled
client must not stop others being served), and the server's output must hold no traceback.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hostile.app import tokens

TIMEOUT = 2.0


def exchange(port: int, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it (or goes quiet
    for ``timeout`` seconds)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer)]


def request(port: int, head: str, body: bytes = b"") -> bytes:
    """A request line and headers (``\\n`` separated, Host and Connection: close added)."""
    lines = head.split("\n")
    lines[1:1] = [f"Host: 127.0.0.1:{port}", "Connection: close"]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def assert_safe(answer: bytes) -> list[int]:
    found = statuses(answer)
    assert all(code < 500 for code in found), answer[:600]
    assert b"Traceback" not in answer and b'File "' not in answer, answer[:600]
    return found


@pytest.fixture(scope="module")
def port(server: tuple[int, Path]) -> Iterator[int]:
    yield server[0]
    log = server[1].read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


def test_the_server_serves(port: int) -> None:
    answer = exchange(port, request(port, "GET / HTTP/1.1"))
    assert statuses(answer) == [200], answer[:300]


RAW_REQUESTS = {
    "garbage-line": b"GARBAGE\r\n\r\n",
    "empty-lines": b"\r\n\r\n\r\n\r\n",
    "binary": bytes(range(256)) * 4,
    "tls-hello": bytes.fromhex("160301012c010001280303") + b"\x00" * 64,
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "http09": b"GET /\r\n\r\n",
    "version-garbage": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "no-version": b"GET / \r\nHost: x\r\n\r\n",
    "lf-only": b"GET / HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n",
    "nul-in-path": b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "non-ascii-path": b"GET /static/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "non-ascii-query": b"GET /notes?tag=\xff HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "utf8-query": "GET /notes?tag=é HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(),
    "space-in-path": b"GET /a b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "method-nul": b"G\x00T / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "method-long": b"X" * 10000 + b" / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "path-long": b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "cr-in-header": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\rInjected: 1\r\nConnection: close\r\n\r\n",
    "lf-in-header": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\nInjected: 1\r\nConnection: close\r\n\r\n",
    "nul-in-header": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost : 127.0.0.1\r\nConnection: close\r\n\r\n",
    "header-no-colon": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nNoColon\r\nConnection: close\r\n\r\n",
    "header-bad-bytes": b"GET /headers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Count: \xff\xfe\r\nCookie: visits=\xff\r\nConnection: close\r\n\r\n",
    "huge-header": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\nConnection: close\r\n\r\n",
    "many-headers": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(500)) + b"Connection: close\r\n\r\n",
    "no-host": b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    "evil-host": b"GET /go?next=/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    "absolute-form": b"GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "asterisk-form": b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "connect": b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
    "cl-te": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "te-cl-smuggle": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "te-obfuscated": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    "two-content-lengths": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{}",
    "content-length-negative": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}",
    "content-length-huge": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999999\r\nConnection: close\r\n\r\n{}",
    "content-length-superscript": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \xb2\r\nConnection: close\r\n\r\n{}",
    "bad-chunk-size": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunk-too-big": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    "chunked-oversized": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + (b"8000\r\n" + b"1" * 0x8000 + b"\r\n") * 3 + b"0\r\n\r\n",
    "pipelined": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 3) + b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    "pipelined-garbage": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGARBAGE\r\n\r\n",
    "expect-continue-big": b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\n",
    "ws-bad-version": b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n",
    "ws-no-key": b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "ws-on-http-route": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "ws-unknown-path": b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "ws-bad-vsn": b"GET /socket/websocket?vsn=9.9.9 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "ws-bad-query": b"GET /socket/websocket?vsn=\xff HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "ws-evil-origin": b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\nCookie: session=1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
}


@pytest.mark.parametrize("name", RAW_REQUESTS)
def test_raw_bytes_never_get_a_5xx(port: int, name: str) -> None:
    answer = exchange(port, RAW_REQUESTS[name], timeout=1.0)
    found = assert_safe(answer)
    if name == "te-cl-smuggle":  # the smuggled GET /admin, if answered at all, is refused
        assert found[1:] in ([], [401]), found
    if name in ("evil-host", "two-hosts", "ws-evil-origin", "ws-bad-vsn"):
        assert found and found[0] in (400, 403), answer[:300]


def test_response_header_injection_through_next(port: int) -> None:
    answer = exchange(port, request(port, "GET /go?next=/%0d%0aSet-Cookie:%20pwned=1 HTTP/1.1"))
    assert statuses(answer) == [303]
    head = answer.split(b"\r\n\r\n", 1)[0]
    assert b"pwned" not in head and b"\r\nlocation: /home\r\n" in head.lower()


def test_slow_and_partial_requests_do_not_stop_others(port: int) -> None:
    """Slowloris: connections that send half a request and stall, or a body that never
    comes, must not keep the server from answering everyone else."""
    stalled = []
    try:
        for n in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            if n % 2:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:
                sock.sendall(b"POST /notes/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            stalled.append(sock)
        started = time.monotonic()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as client:
            assert client.get("/").status_code == 200
            assert client.get("/download", headers={"range": "bytes=0-3"}).status_code == 206
        assert time.monotonic() - started < TIMEOUT
    finally:
        for sock in stalled:
            sock.close()
    assert_safe(exchange(port, request(port, "GET /nowhere HTTP/1.1")))


def test_a_body_that_stops_halfway_is_not_a_5xx(port: int) -> None:
    head = request(port, "POST /notes/raw HTTP/1.1\nContent-Type: application/json\nContent-Length: 1000")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(head + b'{"a": ')
        sock.shutdown(socket.SHUT_WR)  # the client gives up mid-body
        try:
            answer = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            answer = b""
    assert_safe(answer)


def test_real_websocket_garbage(port: int) -> None:
    """Frames a real client sends over a real server: the app's close codes, not 1011."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{port}"
    token = tokens.encode({"sub": "1"})
    cases = [
        ("/ws/moves", "nope", {1007}),
        ("/ws/moves", b"\xff\xfe", {1003, 1007}),
        ("/ws/echo", b"\x00\x01", {1003}),
        (f"/socket/websocket?vsn=2.0.0&token={token}", "x" * 10_000, {1009}),
        (f"/socket/websocket?vsn=2.0.0&token={token}", '{"topic": 1}', {1008}),
        (f"/socket/websocket?vsn=2.0.0&token={token}", b"\x07garbage", {1003}),
    ]
    for path, message, codes in cases:
        with connect(url + path, open_timeout=TIMEOUT, close_timeout=TIMEOUT, max_size=None) as ws:
            ws.send(message)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code in codes, (path, closed.value)


def test_real_longpoll_and_sse_garbage(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as client:
        opened = client.get("/socket/longpoll", params={"vsn": "2.0.0", "token": tokens.encode({"sub": "1"})})
        assert opened.json()["status"] == 410
        session = {"vsn": "2.0.0", "token": opened.json()["token"]}
        for body in (b"\xff\xfe", b"[" * 1500 + b"]" * 1500, b"garbage"):
            assert client.post("/socket/longpoll", params=session, content=body).status_code < 500
        with client.stream("GET", "/rooms/x/events", headers={"last-event-id": "9" * 5000}) as response:
            assert response.status_code == 200
