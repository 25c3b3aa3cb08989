"""TestClient / AsyncTestClient against small raw ASGI apps (no framework App involved)."""

import asyncio
import json
import threading
import time

import pytest

from bastion.http.sse import EventSourceResponse
from bastion.testing import AsyncTestClient, TestClient


async def read_body(receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def send_json(send, data, status=200, headers=()):
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def echo_app(scope, receive, send):
    """Answers with what it saw: the scope's request fields and the body."""
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    await send_json(
        send,
        {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(),
            "scheme": scope["scheme"],
            "server": list(scope["server"]),
            "client": list(scope["client"]),
            "http_version": scope["http_version"],
            "headers": headers,
            "body": body.decode(),
            "state": dict(scope.get("state", {})),
        },
    )


# -- requests ------------------------------------------------------------------------------


def test_get_passes_method_path_query_and_headers():
    seen = TestClient(echo_app).get("/items/1", params={"q": "a b"}, headers={"x-test": "h"}).json()
    assert seen["method"] == "GET"
    assert seen["path"] == "/items/1"
    assert seen["query"] == "q=a+b"
    assert seen["headers"]["x-test"] == "h"
    assert seen["headers"]["host"] == "testserver"


def test_scope_describes_an_http_1_1_request_from_localhost():
    seen = TestClient(echo_app).get("/").json()
    assert seen["scheme"] == "http"
    assert seen["server"] == ["testserver", 80]
    assert seen["client"][0] == "127.0.0.1"
    assert seen["http_version"] == "1.1"


def test_https_base_url_sets_scheme_and_port():
    seen = TestClient(echo_app, base_url="https://example.org").get("/").json()
    assert seen["scheme"] == "https"
    assert seen["server"] == ["example.org", 443]


def test_percent_encoded_path_is_decoded_exactly_once():
    seen = TestClient(echo_app).get("/files/a%2520b/caf%C3%A9").json()
    assert seen["path"] == "/files/a%20b/café"
    assert seen["raw_path"] == "/files/a%2520b/caf%C3%A9"


def test_post_body_reaches_the_app():
    seen = TestClient(echo_app).post("/", content=b"12345").json()
    assert seen["method"] == "POST"
    assert seen["body"] == "12345"


def test_streamed_request_body_arrives_in_several_messages():
    messages = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            messages.append(message)
            if not message["more_body"]:
                break
        await send_json(send, {"ok": True})

    def chunks():
        yield b"ab"
        yield b"cd"

    TestClient(app).post("/", content=chunks())
    assert [m["body"] for m in messages] == [b"ab", b"cd"]
    assert [m["more_body"] for m in messages] == [True, False]


def test_client_headers_and_cookies_are_sent_with_every_request():
    client = TestClient(echo_app, headers={"x-api-key": "k"}, cookies={"session": "s1"})
    headers = client.get("/").json()["headers"]
    assert headers["x-api-key"] == "k"
    assert headers["cookie"] == "session=s1"


def test_cookies_set_by_the_app_persist_between_requests():
    async def app(scope, receive, send):
        if scope["path"] == "/login":
            headers = [(b"set-cookie", b"sid=abc; Path=/")]
            await send_json(send, {}, headers=headers)
        else:
            await echo_app(scope, receive, send)

    client = TestClient(app)
    client.get("/login")
    assert client.get("/me").json()["headers"]["cookie"] == "sid=abc"


def redirect_app(scope, receive, send):
    if scope["path"] == "/old":
        return send_redirect(send)
    return echo_app(scope, receive, send)


async def send_redirect(send):
    await send({"type": "http.response.start", "status": 307, "headers": [(b"location", b"/new")]})
    await send({"type": "http.response.body", "body": b""})


def test_redirects_are_followed_by_default():
    response = TestClient(redirect_app).get("/old")
    assert response.status_code == 200
    assert response.json()["path"] == "/new"


def test_redirects_can_be_returned_as_is():
    response = TestClient(redirect_app, follow_redirects=False).get("/old")
    assert response.status_code == 307
    assert response.headers["location"] == "/new"


# -- lifespan ------------------------------------------------------------------------------


def lifespan_app(events, fail_startup=None, fail_shutdown=None):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            if fail_startup:
                await send({"type": "lifespan.startup.failed", "message": fail_startup})
                return
            scope["state"]["db"] = "connected"
            events.append("startup")
            await send({"type": "lifespan.startup.complete"})
            await receive()
            events.append("shutdown")
            if fail_shutdown:
                await send({"type": "lifespan.shutdown.failed", "message": fail_shutdown})
                return
            await send({"type": "lifespan.shutdown.complete"})
        else:
            events.append("request")
            await echo_app(scope, receive, send)

    return app


def test_lifespan_runs_startup_and_shutdown_around_the_with_block():
    events = []
    with TestClient(lifespan_app(events)) as client:
        assert events == ["startup"]
        client.get("/")
        assert events == ["startup", "request"]
    assert events == ["startup", "request", "shutdown"]


def test_without_with_requests_work_but_no_lifespan_runs():
    events = []
    assert TestClient(lifespan_app(events)).get("/").status_code == 200
    assert events == ["request"]


def test_lifespan_state_is_copied_into_each_request_scope():
    with TestClient(lifespan_app([])) as client:
        assert client.get("/").json()["state"] == {"db": "connected"}


def test_startup_failure_raises_with_the_app_message():
    events = []
    client = TestClient(lifespan_app(events, fail_startup="database unreachable"))
    with pytest.raises(RuntimeError, match="startup failed: database unreachable"):
        with client:
            pass
    assert "shutdown" not in events


def test_startup_exception_is_reraised_as_is():
    async def app(scope, receive, send):
        await receive()
        raise LookupError("no config file")

    with pytest.raises(LookupError, match="no config file"):
        with TestClient(app):
            pass


def test_shutdown_failure_raises_with_the_app_message():
    with pytest.raises(RuntimeError, match="shutdown failed: flush lost"):
        with TestClient(lifespan_app([], fail_shutdown="flush lost")):
            pass


def test_app_that_does_not_speak_lifespan_is_served_without_it():
    async def http_only(scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope {scope['type']}")
        await echo_app(scope, receive, send)

    with TestClient(http_only) as client:
        assert client.get("/").status_code == 200


def test_lifespan_that_returns_without_completing_is_reported():
    async def app(scope, receive, send):
        await receive()

    with pytest.raises(RuntimeError, match="without sending lifespan.startup.complete"):
        with TestClient(app):
            pass


# -- server errors -------------------------------------------------------------------------


async def boom_before_response(scope, receive, send):
    raise KeyError("kaboom")


async def boom_after_500(scope, receive, send):
    """What a Bastion App does when asked to re-raise: the 500 goes out, then the error."""
    await send_json(send, {"title": "Internal Server Error"}, status=500)
    raise ZeroDivisionError("after the response")


def test_exception_before_the_response_is_reraised():
    with pytest.raises(KeyError, match="kaboom"):
        TestClient(boom_before_response).get("/")


def test_exception_after_the_response_is_reraised():
    with pytest.raises(ZeroDivisionError, match="after the response"):
        TestClient(boom_after_500).get("/")


def test_exception_becomes_a_500_when_not_reraised():
    client = TestClient(boom_before_response, raise_server_exceptions=False)
    assert client.get("/").status_code == 500


def test_response_sent_before_an_exception_is_kept_when_not_reraised():
    response = TestClient(boom_after_500, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.json() == {"title": "Internal Server Error"}


def test_client_asks_the_app_to_reraise_only_when_configured():
    flags = []

    async def app(scope, receive, send):
        flags.append(scope.get("bastion.reraise_server_exceptions"))
        await echo_app(scope, receive, send)

    TestClient(app).get("/")
    TestClient(app, raise_server_exceptions=False).get("/")
    assert flags == [True, False]


def test_app_returning_without_a_response_is_reported():
    async def silent(scope, receive, send):
        return None

    with pytest.raises(RuntimeError, match="without sending http.response.start"):
        TestClient(silent).get("/")
    assert TestClient(silent, raise_server_exceptions=False).get("/").status_code == 500


def test_body_before_start_is_a_protocol_error():
    async def app(scope, receive, send):
        await send({"type": "http.response.body", "body": b"x"})

    with pytest.raises(RuntimeError, match="before http.response.start"):
        TestClient(app).get("/")


# -- streaming -----------------------------------------------------------------------------


def test_streaming_response_is_read_incrementally():
    gate = threading.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        opened = await asyncio.to_thread(gate.wait, 3)
        body = b"opened" if opened else b"timed out"
        await send({"type": "http.response.body", "body": body, "more_body": False})

    with TestClient(app).stream("GET", "/") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"first"
        gate.set()  # only now can the app send the rest: nothing was buffered ahead
        assert b"".join(chunks) == b"opened"


def test_closing_an_endless_stream_sends_disconnect_to_the_app():
    seen = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})

        async def produce():
            n = 0
            while True:
                n += 1
                await send({"type": "http.response.body", "body": b"%d\n" % n, "more_body": True})
                await asyncio.sleep(0)

        producer = asyncio.ensure_future(produce())
        while (message := await receive())["type"] != "http.disconnect":
            pass
        seen.append(message["type"])
        producer.cancel()

    with TestClient(app).stream("GET", "/") as response:
        lines = response.iter_lines()
        assert [next(lines) for _ in range(3)] == ["1", "2", "3"]
    assert seen == ["http.disconnect"]


def test_endless_stream_that_ignores_disconnect_stops_when_closed():
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:  # never listens for http.disconnect: its send must fail instead
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            sent.append(1)

    started = time.monotonic()
    with TestClient(app).stream("GET", "/") as response:
        next(response.iter_raw())
    assert time.monotonic() - started < 2
    count = len(sent)
    time.sleep(0.05)
    assert len(sent) == count  # the app stopped


def test_infinite_event_stream_can_be_read_and_closed():
    closed = []

    async def ticks():
        try:
            n = 0
            while True:
                n += 1
                yield {"tick": n}
                await asyncio.sleep(0.001)
        finally:
            closed.append(True)

    app = EventSourceResponse(ticks(), ping_interval=None)
    with TestClient(app).stream("GET", "/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = (line for line in response.iter_lines() if line)
        assert [next(lines) for _ in range(2)] == ['data: {"tick":1}', 'data: {"tick":2}']
    assert closed == [True]


def test_app_waiting_for_disconnect_after_its_response_does_not_hang():
    seen = []

    async def app(scope, receive, send):
        await read_body(receive)
        await send_json(send, {"done": True})
        seen.append((await receive())["type"])

    assert TestClient(app).get("/").json() == {"done": True}
    assert seen == ["http.disconnect"]


def test_work_after_the_body_finishes_before_the_call_returns():
    done = []

    async def app(scope, receive, send):
        await send_json(send, {})
        await asyncio.sleep(0.01)  # a background task, as responses run them
        done.append(True)

    TestClient(app).get("/")
    assert done == [True]


# -- async client --------------------------------------------------------------------------


async def test_async_client_sends_requests_in_the_test_loop():
    async with AsyncTestClient(echo_app) as client:
        response = await client.post("/p", params={"a": "1"}, content=b"body")
    assert response.json()["query"] == "a=1"
    assert response.json()["body"] == "body"


async def test_async_client_runs_lifespan():
    events = []
    async with AsyncTestClient(lifespan_app(events)) as client:
        assert (await client.get("/")).json()["state"] == {"db": "connected"}
    assert events == ["startup", "request", "shutdown"]


async def test_async_client_startup_failure_raises():
    with pytest.raises(RuntimeError, match="startup failed: no"):
        async with AsyncTestClient(lifespan_app([], fail_startup="no")):
            pass


async def test_async_client_reraises_or_returns_500():
    with pytest.raises(KeyError):
        await AsyncTestClient(boom_before_response).get("/")
    client = AsyncTestClient(boom_before_response, raise_server_exceptions=False)
    assert (await client.get("/")).status_code == 500


async def test_async_client_streams_incrementally():
    gate = asyncio.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await asyncio.wait_for(gate.wait(), 3)
        await send({"type": "http.response.body", "body": b"b"})

    async with AsyncTestClient(app).stream("GET", "/") as response:
        chunks = response.aiter_raw()
        assert await anext(chunks) == b"a"
        gate.set()
        assert await anext(chunks) == b"b"


# -- pytest plugin -------------------------------------------------------------------------

CONFTEST = """
import pytest

async def app_(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"pong"})

@pytest.fixture
def app():
    return app_
"""


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_pytest_plugin_provides_client_fixtures(pytester, mode):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        """
import pytest

def test_ping(client):
    assert client.get("/ping").text == "pong"

@pytest.mark.asyncio
async def test_async_ping(async_client):
    assert (await async_client.get("/ping")).text == "pong"
"""
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-o", f"asyncio_mode={mode}",
        "-o", "asyncio_default_fixture_loop_scope=function",
    )  # fmt: skip
    result.assert_outcomes(passed=2)


def test_pytest_plugin_explains_a_missing_app_fixture(pytester):
    pytester.makepyfile("def test_x(client):\n    pass\n")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.stdout.fnmatch_lines(["*define one in your conftest.py*"])
    result.assert_outcomes(errors=1)


def test_closing_a_complete_but_unread_response_does_not_hang():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(5):  # one more chunk than the client buffers
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with TestClient(app).stream("GET", "/") as response:
        assert next(response.iter_raw()) == b"x"
