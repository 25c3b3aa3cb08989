"""The chat example in-process: a message is announced only once its row is committed."""

import sqlite3

import pytest

from bastion.testing import TestClient
from bastion.websockets.pubsub import PubSubPlugin
from tests.channels._phx import Phx


@pytest.fixture
def chat(tmp_path, monkeypatch):
    database = tmp_path / "chat.db"
    monkeypatch.setenv("BASTION_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    from examples.chat.app import create_app

    with TestClient(create_app()) as client:
        yield client, database


def test_a_message_is_broadcast_after_its_row_is_committed(chat):
    client, database = chat
    pubsub = next(p for p in client.app.plugins if isinstance(p, PubSubPlugin)).pubsub
    announced: list[tuple[int, int]] = []

    def listener(message) -> None:
        """Reads, at the moment of the broadcast and over a connection of its own, whether
        the announced row can be seen."""
        if message.event == "new_msg":
            with sqlite3.connect(database) as other:
                (count,) = other.execute(
                    "SELECT count(*) FROM chat_messages WHERE id = ?", (message.payload["id"],)
                ).fetchone()
            announced.append((message.payload["id"], count))

    client.portal.call(pubsub.subscribe("room:lobby", listener))
    with (
        client.websocket_connect("/socket/websocket?vsn=2.0.0") as a,
        client.websocket_connect("/socket/websocket?vsn=2.0.0") as b,
    ):
        alice, bob = Phx(a), Phx(b)
        assert alice.join("room:lobby", {"name": "alice"})["status"] == "ok"
        assert bob.join("room:lobby", {"name": "bob"})["status"] == "ok"
        reply = alice.push("room:lobby", "new_msg", {"body": "hello"})
        assert reply["status"] == "ok"
        frame = bob.expect(lambda f: f[3] == "new_msg")
        assert frame[4]["body"] == "hello" and frame[4]["id"] == reply["response"]["id"]
    assert announced == [(reply["response"]["id"], 1)]
