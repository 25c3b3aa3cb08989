"""The broadcast channel: to the user's topic (``user:<id>``) through the app's pub/sub,
received by a subscriber and by an SSE client of the stream route, and only once the
request's transaction has committed."""

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import App, Settings
from bastion.exceptions import Conflict
from bastion.notifications import NotificationsPlugin, notify
from bastion.testing import TestClient
from bastion.websockets.pubsub import Message, PubSubPlugin
from tests.notifications._app import ArticleCommented, User, auth, build, plugin_of

BOTH = ("database", "broadcast")


async def test_a_subscriber_of_the_users_topic_receives_it():
    pubsub = PubSubPlugin()
    app = App(settings=Settings(profile="test"), plugins=[pubsub, NotificationsPlugin()])
    received: list[Message] = []
    async with app.lifespan():
        await pubsub.pubsub.subscribe("user:1", received.append)
        [sent] = await notify(User(1), ArticleCommented("dragons", "hi", ("broadcast",)))
        await notify(User(2), ArticleCommented("dragons", "not for 1", ("broadcast",)))
    [message] = received
    assert (message.topic, message.event) == ("user:1", "notification")
    payload = message.payload
    assert payload["id"] == sent and payload["type"] == "article_commented"
    assert payload["data"] == {"article": "dragons", "comment": "hi"}  # to_database's
    assert payload["read_at"] is None and payload["created_at"].endswith("Z")


def test_it_is_sent_after_the_commit_and_never_for_a_rolled_back_request(tmp_path):
    pubsub = PubSubPlugin()
    app = build(pubsub, url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    inbox = plugin_of(app).inbox
    messages: list[Message] = []
    heard_in_the_handler: list[int] = []

    @app.post("/comments")
    async def comment(db: AsyncSession, fail: bool = False) -> None:
        await notify(User(1), ArticleCommented("dragons", "hello", BOTH))
        heard_in_the_handler.append(len(messages))  # the transaction is still open
        if fail:
            raise Conflict("refused")

    with TestClient(app) as client:
        client.portal.call(pubsub.pubsub.subscribe("user:1", messages.append))
        assert client.post("/comments?fail=true").status_code == 409
        assert messages == []
        assert client.post("/comments").status_code == 204
        [message] = messages  # told once: by the commit, before the response
        [stored] = client.portal.call(inbox.list(User(1)))
        assert message.payload["id"] == stored.id
        assert message.payload == msgspec.to_builtins(stored)  # what the list route shows
    assert heard_in_the_handler == [0, 0]


def test_an_sse_client_of_the_stream_route_receives_it(tmp_path):
    pubsub = PubSubPlugin()
    app = build(pubsub, url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}", routes="/notifications")
    with TestClient(app) as client:
        assert client.get("/notifications/stream").status_code == 401
        documented = client.get("/openapi.json").json()["paths"]["/notifications/stream"]["get"]
        assert "text/event-stream" in documented["responses"]["200"]["content"]
        with client.stream("GET", "/notifications/stream", headers=auth(1)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            [sent] = client.portal.call(
                plugin_of(app).notify(User(1), ArticleCommented("dragons", "live", BOTH))
            )
            client.portal.call(
                plugin_of(app).notify(User(2), ArticleCommented("dragons", "other", BOTH))
            )
            client.portal.call(
                plugin_of(app).notify(User(1), ArticleCommented("dragons", "next", BOTH))
            )
            events = read_events(lines, 2)
    assert [e["event"] for e in events] == ["notification", "notification"]
    first = msgspec_json(events[0]["data"])
    assert first["id"] == sent and first["data"]["comment"] == "live"
    assert msgspec_json(events[1]["data"])["data"]["comment"] == "next"


def read_events(lines, count):
    events, current = [], {}
    for line in lines:
        if not line:
            if current:
                events.append(current)
                current = {}
            if len(events) == count:
                return events
            continue
        name, _, value = line.partition(": ")
        current[name] = value
    return events


def msgspec_json(text):
    import json

    return json.loads(text)
