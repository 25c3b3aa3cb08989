"""Subscriptions over graphql-transport-ws: the protocol through the test client, and an
event published by another process through Redis reaching a client of a uvicorn server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest

from bastion.testing import TestClient, WebSocketDenied
from bastion.testing.websocket import WebSocketSession
from bastion.websockets import WebSocketDisconnect
from bastion.websockets.pubsub import PubSubPlugin
from tests.channels._live import ROOT, uvicorn
from tests.graphql.live_app import create_app

PROTOCOL = ["graphql-transport-ws"]


@pytest.fixture
def client() -> Any:
    with TestClient(create_app(init_timeout=0.5)) as client:
        yield client


def initialised(ws: WebSocketSession) -> WebSocketSession:
    ws.send_json({"type": "connection_init"})
    assert ws.receive_json() == {"type": "connection_ack"}
    return ws


def closed_with(ws: WebSocketSession) -> int:
    with pytest.raises(WebSocketDisconnect) as caught:
        ws.receive_json()
    return caught.value.code


def test_a_subscription_streams_then_completes(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert ws.accepted_subprotocol == "graphql-transport-ws"
        initialised(ws)
        query = "subscription ($n: Int!) { count(to: $n) }"
        ws.send_json(
            {"id": "a", "type": "subscribe", "payload": {"query": query, "variables": {"n": 3}}}
        )
        received = [ws.receive_json() for _ in range(4)]
        assert received == [
            {"id": "a", "type": "next", "payload": {"data": {"count": 0}}},
            {"id": "a", "type": "next", "payload": {"data": {"count": 1}}},
            {"id": "a", "type": "next", "payload": {"data": {"count": 2}}},
            {"id": "a", "type": "complete"},
        ]


def test_queries_run_over_the_socket_too(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        initialised(ws)
        ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": "{ hello }"}})
        assert ws.receive_json() == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"hello": "Hello"}},
        }
        assert ws.receive_json() == {"id": "q", "type": "complete"}


def test_connection_init_payload_reaches_the_context(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"name": "Ada"}})
        assert ws.receive_json() == {"type": "connection_ack"}
        ws.send_json(
            {"id": "g", "type": "subscribe", "payload": {"query": "subscription { greeting }"}}
        )
        assert ws.receive_json()["payload"] == {"data": {"greeting": "Hello, Ada"}}


def test_ping_is_answered(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_a_bad_document_is_an_error_message(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        initialised(ws)
        ws.send_json(
            {"id": "b", "type": "subscribe", "payload": {"query": "subscription { nope }"}}
        )
        message = ws.receive_json()
        assert message["type"] == "error" and message["id"] == "b"
        assert "nope" in message["payload"][0]["message"]


def test_limits_apply_over_the_socket(client: TestClient) -> None:
    query = "subscription { " + " ".join(f"a{i}: count(to: 1)" for i in range(5_000)) + " }"
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        initialised(ws)
        ws.send_json({"id": "h", "type": "subscribe", "payload": {"query": query}})
        message = ws.receive_json()
        assert message["type"] == "error" and "tokens" in message["payload"][0]["message"]


def test_an_error_inside_a_subscription_is_masked(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        initialised(ws)
        ws.send_json(
            {"id": "f", "type": "subscribe", "payload": {"query": "subscription { failing }"}}
        )
        assert ws.receive_json()["payload"] == {"data": {"failing": 1}}
        message = ws.receive_json()
        assert "secret" not in json.dumps(message)


def test_complete_from_the_client_stops_the_operation(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        initialised(ws)
        sub = {"query": "subscription { articlePublished { title } }"}
        ws.send_json({"id": "s", "type": "subscribe", "payload": sub})
        ws.send_json({"id": "s", "type": "complete"})
        ws.send_json({"id": "s", "type": "subscribe", "payload": sub})  # the id is free again
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_ending_a_subscription_unsubscribes_from_the_topic() -> None:
    app = create_app()
    [plugin] = [p for p in app.plugins if isinstance(p, PubSubPlugin)]
    subscribers = plugin.pubsub._subscribers  # type: ignore[attr-defined]
    sub = {"query": "subscription { articlePublished { title } }"}

    def wait_until(condition: Any) -> None:
        deadline = time.monotonic() + 5
        while not condition():
            assert time.monotonic() < deadline
            time.sleep(0.01)

    with TestClient(app) as client:
        with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            initialised(ws)
            ws.send_json({"id": "1", "type": "subscribe", "payload": sub})
            ws.send_json({"id": "2", "type": "subscribe", "payload": sub})
            wait_until(lambda: len(subscribers.get("articles", ())) == 2)
            ws.send_json({"id": "1", "type": "complete"})  # the client stops one
            wait_until(lambda: len(subscribers.get("articles", ())) == 1)
        wait_until(lambda: "articles" not in subscribers)  # the socket closing stops the rest


def test_without_the_subprotocol_the_handshake_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDenied), client.websocket_connect("/graphql"):
        pass


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}}], 4401),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        (["not json"], 4400),
        ([{"type": "connection_init"}, {"type": "what"}], 4400),
        (
            [{"type": "connection_init"}, {"type": "subscribe", "payload": {"query": "{ hello }"}}],
            4400,
        ),
        ([{"type": "connection_init"}, {"id": "1", "type": "subscribe", "payload": {}}], 4400),
    ],
)
def test_protocol_breaches_close_with_the_spec_codes(
    client: TestClient, messages: list[Any], code: int
) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        for message in messages:
            if isinstance(message, str):
                ws.send_text(message)
            else:
                ws.send_json(message)
        while True:
            try:
                ws.receive_json()
            except WebSocketDisconnect as closed:
                assert closed.code == code
                break


def test_a_duplicate_id_closes_with_4409(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        initialised(ws)
        sub = {"query": "subscription { articlePublished { title } }"}
        ws.send_json({"id": "d", "type": "subscribe", "payload": sub})
        ws.send_json({"id": "d", "type": "subscribe", "payload": sub})
        assert closed_with(ws) == 4409


def test_no_connection_init_closes_with_4408(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert closed_with(ws) == 4408


# -- across processes ------------------------------------------------------------------------
PUBLISH = """
import asyncio, sys
from bastion.websockets.pubsub import RedisPubSub

async def main():
    pubsub = RedisPubSub(sys.argv[1], prefix="gqltest")
    await pubsub.start()
    await pubsub.broadcast("articles", "published", {"title": sys.argv[2]})
    await pubsub.stop()

asyncio.run(main())
"""


def wait_for_subscriber(redis_url: str, channel: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 10
        while dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) < 1:
            assert time.monotonic() < deadline, "the server never subscribed to the topic"
            time.sleep(0.05)
    finally:
        client.close()


def test_an_event_published_by_another_process_reaches_the_subscriber(redis_url: str) -> None:
    import websockets

    env = {"BASTION_TEST_REDIS": redis_url}
    with uvicorn("tests.graphql.live_app:create_app", env) as base:
        url = base.replace("http://", "ws://") + "/graphql"

        async def scenario() -> list[Any]:
            async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
                assert ws.subprotocol == "graphql-transport-ws"
                await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                assert json.loads(await ws.recv()) == {"type": "connection_ack"}
                query = "subscription { articlePublished { title } }"
                await ws.send(
                    json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
                )
                await asyncio.to_thread(wait_for_subscriber, redis_url, "gqltest:t:articles")
                for title in ("First", "Second"):
                    await asyncio.to_thread(
                        subprocess.run,
                        [sys.executable, "-c", PUBLISH, redis_url, title],
                        check=True,
                        cwd=ROOT,
                        timeout=30,
                    )
                received = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
                await ws.send(json.dumps({"id": "1", "type": "complete"}))
                return received

        received = asyncio.run(scenario())
        assert received == [
            {"id": "1", "type": "next", "payload": {"data": {"articlePublished": {"title": t}}}}
            for t in ("First", "Second")
        ]


def test_queries_and_mutations_over_a_real_server(redis_url: str) -> None:
    import httpx

    with uvicorn("tests.graphql.live_app:create_app", {"BASTION_TEST_REDIS": redis_url}) as base:
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/graphql", params={"query": "{ hello }"}).json() == {
                "data": {"hello": "Hello"}
            }
            mutation = {"query": 'mutation { announce(title: "Hi") }'}
            assert http.post("/graphql", json=mutation).json() == {"data": {"announce": "Hi"}}
            bad = http.post("/graphql", content=b"[", headers={"content-type": "application/json"})
            assert bad.status_code == 400
            assert bad.headers["content-type"] == "application/problem+json"
            page = http.get("/graphql", headers={"accept": "text/html"})
            assert "graphiql.min.js" in page.text


def test_a_mutation_broadcast_reaches_a_subscriber_of_another_server(redis_url: str) -> None:
    import httpx
    import websockets

    env = {"BASTION_TEST_REDIS": redis_url}
    with (
        uvicorn("tests.graphql.live_app:create_app", env) as one,
        uvicorn("tests.graphql.live_app:create_app", env) as two,
    ):

        async def scenario() -> Any:
            url = two.replace("http://", "ws://") + "/graphql"
            async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send(json.dumps({"type": "connection_init"}))
                assert json.loads(await ws.recv()) == {"type": "connection_ack"}
                query = "subscription { articlePublished { title } }"
                await ws.send(
                    json.dumps({"id": "x", "type": "subscribe", "payload": {"query": query}})
                )
                await asyncio.to_thread(wait_for_subscriber, redis_url, "gqltest:t:articles")
                async with httpx.AsyncClient(base_url=one) as http:
                    mutation = {"query": 'mutation { announce(title: "Across") }'}
                    await http.post("/graphql", json=mutation)
                return json.loads(await asyncio.wait_for(ws.recv(), 10))

        assert asyncio.run(scenario())["payload"] == {
            "data": {"articlePublished": {"title": "Across"}}
        }
