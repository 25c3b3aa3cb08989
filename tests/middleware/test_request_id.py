import pytest

from bastion.exceptions import ConfigurationError
from bastion.http.request import Request
from bastion.http.response import Response, TextResponse
from bastion.middleware.request_id import RequestId


def make_request(headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers or [],
        "query_string": b"",
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    return Request(scope, receive)


seen: list[str] = []


async def app(request: Request) -> Response:
    seen.append(request.state.request_id)
    return TextResponse("ok")


def echoed(response: Response, name: bytes = b"x-request-id") -> list[bytes]:
    return [v for k, v in response.raw_headers if k == name]


async def test_fresh_id_is_stored_on_state_and_echoed():
    seen.clear()
    first = await RequestId()(make_request(), app)
    second = await RequestId()(make_request(), app)
    assert len(seen[0]) == 32 and int(seen[0], 16) >= 0
    assert echoed(first) == [seen[0].encode()]
    assert seen[0] != seen[1]
    assert echoed(second) == [seen[1].encode()]


@pytest.mark.parametrize("incoming", [b"abc-123", b"Root=1-5759e988/bd862e3f:x+y@z~_.", b"a" * 128])
async def test_safe_incoming_id_is_reused(incoming):
    seen.clear()
    response = await RequestId()(make_request([(b"x-request-id", incoming)]), app)
    assert seen == [incoming.decode()]
    assert echoed(response) == [incoming]


@pytest.mark.parametrize(
    "incoming",
    [b"a" * 129, b"", b"id with spaces", b"id\xc3\xa9", b"x;y", b"line\r\nx-admin: 1", b"<script>"],
)
async def test_unsafe_incoming_id_is_replaced(incoming):
    seen.clear()
    response = await RequestId()(make_request([(b"x-request-id", incoming)]), app)
    assert seen[0].encode() != incoming and len(seen[0]) == 32
    assert echoed(response) == [seen[0].encode()]


async def test_incoming_id_is_ignored_when_not_trusted():
    seen.clear()
    middleware = RequestId(trust_incoming=False, generator=lambda: "ours")
    response = await middleware(make_request([(b"x-request-id", b"theirs")]), app)
    assert seen == ["ours"]
    assert echoed(response) == [b"ours"]


async def test_custom_header_name_is_read_and_written():
    seen.clear()
    middleware = RequestId(header="X-Correlation-ID")
    response = await middleware(make_request([(b"x-correlation-id", b"c-1")]), app)
    assert seen == ["c-1"]
    assert echoed(response, b"x-correlation-id") == [b"c-1"]
    assert echoed(response) == []


@pytest.mark.parametrize("name", ["", "x request id", "x-id:"])
def test_bad_header_name_fails_at_construction(name):
    with pytest.raises(ConfigurationError, match="RequestId"):
        RequestId(header=name)
