import anyio
import pytest

from bastion import App, Settings
from bastion.http.sse import EventSourceResponse, ServerSentEvent
from bastion.testing import TestClient

# -- encoding ----------------------------------------------------------------------------------


def test_event_encoding():
    event = ServerSentEvent("line1\nline2", event="update", id="7", retry=1000)
    assert event.encode() == b"event: update\nid: 7\nretry: 1000\ndata: line1\ndata: line2\n\n"


def test_non_string_data_is_json():
    assert ServerSentEvent({"a": 1}).encode() == b'data: {"a":1}\n\n'
    assert ServerSentEvent([1, "two"]).encode() == b'data: [1,"two"]\n\n'
    assert ServerSentEvent(3).encode() == b"data: 3\n\n"


def test_every_kind_of_line_break_in_data_starts_a_new_data_line():
    # A lone \r ends a line for an EventSource reader: left in, it would inject a field.
    event = ServerSentEvent("a\rb\r\nc\nevent: evil")
    assert event.encode() == b"data: a\ndata: b\ndata: c\ndata: event: evil\n\n"


def test_empty_string_data_is_one_empty_data_line():
    assert ServerSentEvent("").encode() == b"data: \n\n"


def test_comments():
    assert ServerSentEvent(comment="hi").encode() == b": hi\n\n"
    assert ServerSentEvent(comment="one\rtwo").encode() == b": one\n: two\n\n"
    assert ServerSentEvent("x", comment="note").encode() == b": note\ndata: x\n\n"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "a\nb"},
        {"event": "a\rb"},
        {"id": "1\n2"},
        {"id": "1\r\n"},
        {"id": "1\x002"},
        {"retry": -1},
        {"retry": 1.5},
        {"retry": True},
    ],
)
def test_fields_that_would_break_the_stream_are_rejected(kwargs):
    with pytest.raises(ValueError, match="SSE"):
        ServerSentEvent("x", **kwargs)


def test_response_options_are_checked_when_built():
    async def source():
        yield "x"

    with pytest.raises(TypeError, match="async iterable"):
        EventSourceResponse(["not", "async"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ping_interval"):
        EventSourceResponse(source(), ping_interval=0)


# -- streaming through the app -----------------------------------------------------------------


def test_stream_of_events_and_headers():
    app = App(settings=Settings(profile="test"))

    @app.get("/events")
    async def events() -> EventSourceResponse:
        async def source():
            yield ServerSentEvent("one", id="1")
            yield "two"
            yield {"n": 3}

        return EventSourceResponse(source())

    response = TestClient(app).get("/events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.text == 'id: 1\ndata: one\n\ndata: two\n\ndata: {"n":3}\n\n'


def test_caller_headers_and_status_are_kept():
    async def source():
        yield "x"

    response = EventSourceResponse(
        source(), headers={"cache-control": "no-store", "x-extra": "1"}, status_code=201
    )
    assert response.headers.getlist("cache-control") == ["no-store"]
    reply = TestClient(response).get("/")
    assert reply.status_code == 201
    assert reply.headers["x-extra"] == "1"


# -- hand-made ASGI calls ----------------------------------------------------------------------


class Peer:
    """The server side of one exchange: records what was sent and disconnects on demand."""

    def __init__(self, method="GET", fail_send_after=None):
        self.scope = {"type": "http", "method": method, "path": "/", "headers": []}
        self.messages = []
        self.requested = False
        self.gone = anyio.Event()
        self.first_body = anyio.Event()
        self.fail_send_after = fail_send_after

    async def receive(self):
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message):
        if self.fail_send_after is not None and len(self.messages) >= self.fail_send_after:
            raise OSError("the client went away")
        self.messages.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            self.first_body.set()

    @property
    def body(self):
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    @property
    def finished(self):
        return self.messages[-1] == {"type": "http.response.body", "body": b""}

    async def run(self, response, timeout=3):
        with anyio.fail_after(timeout):
            await response(self.scope, self.receive, self.send)


async def test_ping_is_sent_while_the_source_is_idle():
    release = anyio.Event()

    async def source():
        yield "first"
        await release.wait()
        yield "last"

    peer = Peer()
    async with anyio.create_task_group() as group:
        group.start_soon(peer.run, EventSourceResponse(source(), ping_interval=0.02))
        with anyio.fail_after(3):
            while peer.body.count(b": ping\n\n") < 2:
                await anyio.sleep(0.01)
        release.set()
    assert peer.body.startswith(b"data: first\n\n: ping\n\n: ping\n\n")
    assert peer.body.endswith(b"data: last\n\n")
    assert peer.finished


async def test_no_ping_while_events_keep_coming():
    async def source():
        for n in range(10):
            yield str(n)
            await anyio.sleep(0.01)

    peer = Peer()
    await peer.run(EventSourceResponse(source(), ping_interval=0.5))
    assert b"ping" not in peer.body
    assert peer.body.count(b"data: ") == 10


async def test_disconnect_stops_and_closes_the_generator():
    steps = []

    async def source():
        try:
            n = 0
            while True:
                n += 1
                steps.append(n)
                yield {"n": n}
                await anyio.sleep(0.01)
        finally:
            steps.append("closed")

    peer = Peer()
    async with anyio.create_task_group() as group:
        group.start_soon(peer.run, EventSourceResponse(source(), ping_interval=None))
        await peer.first_body.wait()
        peer.gone.set()
    # `run` returned (the task group ended) and the generator ran its finally block.
    assert steps[-1] == "closed"
    produced = len(steps)
    await anyio.sleep(0.05)
    assert len(steps) == produced  # nothing runs after the disconnect
    assert not peer.finished  # no closing body message to a client that is gone


async def test_disconnect_cancels_a_source_waiting_forever():
    closed = anyio.Event()

    async def source():
        try:
            yield "hello"
            await anyio.sleep_forever()
        finally:
            closed.set()

    peer = Peer()
    async with anyio.create_task_group() as group:
        group.start_soon(peer.run, EventSourceResponse(source()))
        await peer.first_body.wait()
        peer.gone.set()
    assert closed.is_set()


async def test_send_failing_stops_the_stream_and_closes_the_source():
    closed = []

    async def source():
        try:
            while True:
                yield "tick"
        finally:
            closed.append(True)

    peer = Peer(fail_send_after=3)  # the start message and two events, then the socket is gone
    await peer.run(EventSourceResponse(source(), ping_interval=None))
    assert closed == [True]
    assert peer.body == b"data: tick\n\ndata: tick\n\n"


async def test_error_in_the_source_propagates_unwrapped():
    async def source():
        yield "ok"
        raise LookupError("boom")

    peer = Peer()
    with pytest.raises(LookupError, match="boom"):
        await peer.run(EventSourceResponse(source()))
    assert peer.body == b"data: ok\n\n"


async def test_head_sends_headers_only_and_closes_the_unstarted_source():
    started = []

    async def source():
        started.append(True)
        yield "x"

    generator = source()
    peer = Peer(method="HEAD")
    await peer.run(EventSourceResponse(generator))
    assert peer.messages[0]["status"] == 200
    assert peer.body == b"" and peer.finished
    assert started == []
    with pytest.raises(StopAsyncIteration):
        await generator.__anext__()  # closed, so it can never start


async def test_background_task_runs_after_the_stream():
    from bastion import App, BackgroundTasks
    from bastion.testing import AsyncTestClient

    order = []
    app = App()

    async def source():
        yield "x"
        order.append("streamed")

    async def after():
        order.append("background")

    @app.get("/events")
    async def events(tasks: BackgroundTasks) -> EventSourceResponse:
        tasks.add_task(after)
        return EventSourceResponse(source())

    async with AsyncTestClient(app) as client:
        await client.get("/events")
    assert order == ["streamed", "background"]
