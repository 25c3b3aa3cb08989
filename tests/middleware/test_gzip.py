import asyncio
import gzip
import zlib

import pytest

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import JSONResponse, Response, TextResponse
from bastion.http.streaming import StreamingResponse
from bastion.middleware.gzip import GZip

BIG = {"rows": ["row " * 20] * 40}


def make_request(accept_encoding: str | None = "gzip, deflate, br", method: str = "GET") -> Request:
    headers = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding.encode())]
    scope = {"type": "http", "method": method, "path": "/", "headers": headers, "query_string": b""}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


def returning(response: Response):
    async def call_next(request: Request) -> Response:
        return response

    return call_next


def header(response: Response, name: str) -> list[bytes]:
    return [v for k, v in response.raw_headers if k == name.encode()]


async def sent(response: Response) -> list[dict]:
    messages: list[dict] = []

    async def send(message):
        messages.append(message)

    await response({"type": "http", "method": "GET"}, make_request().receive, send)
    return messages


async def test_large_json_is_compressed():
    original = JSONResponse(BIG)
    plain = original.body
    response = await GZip()(make_request(), returning(original))
    assert header(response, "content-encoding") == [b"gzip"]
    assert header(response, "vary") == [b"accept-encoding"]
    assert gzip.decompress(response.body) == plain
    start, body = await sent(response)
    assert dict(start["headers"])[b"content-length"] == str(len(body["body"])).encode()
    assert len(body["body"]) < len(plain) / 5


async def test_small_body_is_left_alone():
    response = await GZip()(make_request(), returning(JSONResponse({"ok": True})))
    assert response.body == b'{"ok":true}'
    assert response.raw_headers == [(b"content-type", b"application/json")]


@pytest.mark.parametrize(
    "accept, compressed",
    [
        ("gzip", True),
        ("GZIP", True),
        ("br, gzip;q=0.5", True),
        ("*", True),
        ("*;q=0, gzip", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=oops", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("identity", False),
        ("br", False),
        (None, False),
    ],
)
async def test_accept_encoding_is_respected(accept, compressed):
    response = await GZip()(make_request(accept), returning(TextResponse("x" * 1000)))
    assert (header(response, "content-encoding") == [b"gzip"]) is compressed
    assert (response.body != b"x" * 1000) is compressed
    # The uncompressed answer still varies, so a cache never serves it the other way round.
    assert header(response, "vary") == [b"accept-encoding"]


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "image/png"},
        {"content-type": "application/octet-stream"},
        {"content-type": "text/plain", "content-encoding": "br"},
        {"content-type": "text/plain", "cache-control": "public, no-transform"},
        {},
    ],
    ids=["png", "octet-stream", "already-encoded", "no-transform", "no-type"],
)
async def test_response_that_must_not_be_compressed_is_left_alone(headers):
    original = Response(b"a" * 1000, headers=headers)
    before = list(original.raw_headers)
    response = await GZip()(make_request(), returning(original))
    assert response.body == b"a" * 1000
    assert response.raw_headers == before


@pytest.mark.parametrize("status", [204, 206, 304])
async def test_statuses_without_a_full_body_are_left_alone(status):
    response = await GZip()(make_request(), returning(TextResponse("x" * 1000, status)))
    assert header(response, "content-encoding") == []


async def test_strong_etag_is_weakened_and_content_length_dropped():
    original = TextResponse("x" * 1000, headers={"etag": '"v1"', "content-length": "1000"})
    response = await GZip()(make_request(), returning(original))
    assert header(response, "etag") == [b'W/"v1"']
    assert header(response, "content-length") == []


async def test_responses_that_send_themselves_are_left_alone():
    class FileLike(Response):
        async def __call__(self, scope, receive, send):  # sends bytes not held in .body
            raise AssertionError("not sent in this test")

    original = FileLike(b"", headers={"content-type": "text/plain"})
    response = await GZip(minimum_size=0)(make_request(), returning(original))
    assert header(response, "content-encoding") == []
    assert response.body == b""


async def test_stream_is_compressed_and_flushed_chunk_by_chunk():
    release = asyncio.Event()

    async def produce():
        yield "first chunk "
        await release.wait()
        yield b"second chunk"

    original = StreamingResponse(produce(), media_type="text/plain")
    response = await GZip()(make_request(), returning(original))
    assert header(response, "content-encoding") == [b"gzip"]
    messages: list[dict] = []
    first_arrived = asyncio.Event()

    async def send(message):
        messages.append(message)
        if message.get("body"):
            first_arrived.set()

    async def receive():  # as a server does while the client stays: nothing more
        await asyncio.Event().wait()

    task = asyncio.create_task(response({"type": "http", "method": "GET"}, receive, send))
    await asyncio.wait_for(first_arrived.wait(), 1)
    decompressor = zlib.decompressobj(31)
    # The first chunk is readable on its own while the producer is still waiting.
    assert decompressor.decompress(messages[1]["body"]) == b"first chunk "
    release.set()
    await asyncio.wait_for(task, 1)
    rest = b"".join(m.get("body", b"") for m in messages[2:])
    assert decompressor.decompress(rest) == b"second chunk"
    assert decompressor.eof


async def test_sync_iterable_stream_is_compressed():
    original = StreamingResponse(["a" * 300, "b" * 300], media_type="application/json")
    response = await GZip()(make_request(), returning(original))
    body = b"".join(m.get("body", b"") for m in await sent(response))
    assert gzip.decompress(body) == b"a" * 300 + b"b" * 300


async def test_stream_closes_its_producer_when_abandoned():
    closed = asyncio.Event()

    async def produce():
        try:
            while True:
                yield "tick "
        finally:
            closed.set()

    original = StreamingResponse(produce(), media_type="text/plain")
    response = await GZip()(make_request(), returning(original))
    chunks = response.body_iterator
    assert await anext(chunks)
    await chunks.aclose()
    assert closed.is_set()


async def test_event_stream_is_never_compressed():
    original = StreamingResponse(iter(["data: x\n\n" * 200]), media_type="text/event-stream")
    response = await GZip()(make_request(), returning(original))
    assert header(response, "content-encoding") == []
    assert header(response, "vary") == []


@pytest.mark.parametrize(
    "options", [{"compresslevel": 0}, {"compresslevel": 10}, {"minimum_size": -1}]
)
def test_bad_configuration_fails_at_construction(options):
    with pytest.raises(ConfigurationError, match="GZip"):
        GZip(**options)
