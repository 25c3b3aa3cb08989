"""A comment on your article notifies you: stored (GET /api/notifications, not part of the
RealWorld spec) and pushed on your topic user:<id> once the comment is committed."""

import jwt

from bastion.websockets.pubsub import Message, PubSubPlugin


def user_id(auth):
    token = auth["Authorization"].removeprefix("Token ")
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def test_a_comment_on_your_article_lands_in_your_notifications(client, api):
    author, reader = api.register("author"), api.register("reader")
    slug = api.article(author, "Dragons")["slug"]
    comment = api.comment(reader, slug, "Great read")
    api.comment(author, slug, "Thanks!")  # your own comment notifies nobody

    listing = client.get("/api/notifications", headers=author)
    assert listing.status_code == 200
    body = listing.json()
    assert body["unreadCount"] == 1
    [notification] = body["notifications"]
    assert notification["type"] == "article_commented"
    assert notification["data"] == {
        "article": {"slug": slug, "title": "Dragons"},
        "comment": {"id": comment["id"], "body": "Great read"},
        "author": "reader",
    }
    assert notification["readAt"] is None and notification["createdAt"].endswith("Z")
    assert client.get("/api/notifications", headers=reader).json() == {
        "notifications": [], "unreadCount": 0
    }

    read = client.post("/api/notifications/read", headers=author).json()
    assert read["unreadCount"] == 0 and read["notifications"][0]["readAt"] is not None


def test_the_author_hears_of_it_live_on_their_topic(client, api):
    author, reader = api.register("author"), api.register("reader")
    slug = api.article(author, "Dragons")["slug"]
    pubsub = next(p for p in client.app.plugins if isinstance(p, PubSubPlugin)).pubsub
    heard: list[Message] = []
    topic = f"user:{user_id(author)}"
    client.portal.call(pubsub.subscribe(topic, heard.append))
    try:
        api.comment(reader, slug, "Live!")
    finally:
        client.portal.call(pubsub.unsubscribe(topic, heard.append))
    [message] = heard
    assert message.event == "notification"
    assert message.payload["data"]["comment"]["body"] == "Live!"


def test_notifications_need_a_token_in_the_spec_shape(client):
    for method, path in (("GET", "/api/notifications"), ("POST", "/api/notifications/read")):
        response = client.request(method, path)
        assert response.status_code == 401
        assert response.json() == {"errors": {"token": ["is missing"]}}
