"""The database channel on SQLite and on a real PostgreSQL: notifications stored in the
request's transaction, the Inbox API (list, unread count, mark read, mark all read, pages)
and the JSON routes for the current user, as the OpenAPI document describes them."""

import asyncio
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.exceptions import Conflict
from bastion.notifications import Inbox, notify
from bastion.testing import AsyncTestClient, TestClient
from tests.notifications._app import ArticleCommented, User, auth, build, plugin_of

ADA, BOB = User(1, "ada@example.com"), User(2, "bob@example.com")


async def test_inbox_lists_counts_and_marks_a_users_notifications(database_url):
    app = build(url=database_url)
    inbox = plugin_of(app).inbox
    async with app.lifespan():
        for n in range(3):
            await notify(ADA, ArticleCommented("dragons", f"comment {n}"))
        [bobs] = await notify(BOB, ArticleCommented("dragons", "for bob"))

        listed = await inbox.list(ADA)
        assert [n.data["comment"] for n in listed] == ["comment 2", "comment 1", "comment 0"]
        assert {n.type for n in listed} == {"article_commented"}
        assert all(n.read_at is None and n.created_at.tzinfo is not None for n in listed)
        assert await inbox.unread_count(ADA) == 3

        marked = await inbox.mark_read(ADA, listed[1].id)
        assert marked is not None and marked.read_at is not None
        again = await inbox.mark_read(ADA, listed[1].id)
        assert again.read_at == marked.read_at  # the first reading is kept
        assert await inbox.unread_count(ADA) == 2
        assert [n.id for n in await inbox.list(ADA, unread=True)] == [listed[0].id, listed[2].id]

        assert await inbox.mark_read(ADA, bobs) is None  # someone else's
        assert await inbox.mark_read(BOB, "0" * 32) is None
        assert await inbox.mark_all_read(ADA) == 2
        assert await inbox.mark_all_read(ADA) == 0
        assert await inbox.unread_count(ADA) == 0
        assert await inbox.unread_count(BOB) == 1


async def test_pages_follow_the_last_id_even_within_one_instant(database_url):
    app = build(url=database_url)
    inbox = plugin_of(app).inbox
    async with app.lifespan():
        ids = await notify([ADA] * 7, ArticleCommented("a", "same instant"))  # one created_at
        await notify(ADA, ArticleCommented("a", "later"))
        seen, before = [], None
        while page := await inbox.list(ADA, limit=3, before=before):
            seen.extend(page)
            before = page[-1].id
        assert len(seen) == 8 and len({n.id for n in seen}) == 8
        assert seen[0].data["comment"] == "later"
        assert {n.id for n in seen[1:]} == set(ids)
        assert await inbox.list(ADA, before="not-an-id") == []
        assert await inbox.list(BOB, before=seen[0].id) == []  # another's cursor: nothing


def test_a_notification_is_stored_only_if_the_request_commits(database_url):
    app = build(url=database_url)

    @app.post("/comments")
    async def comment(db: AsyncSession, fail: bool = False) -> None:
        await notify(ADA, ArticleCommented("dragons", "hello"))
        if fail:
            raise Conflict("refused: the notification goes with the request")

    with TestClient(app) as client:
        assert client.post("/comments?fail=true").status_code == 409
        assert client.get("/notifications", headers=auth(1)).status_code == 404  # no routes
        assert client.portal.call(plugin_of(app).inbox.unread_count(ADA)) == 0
        assert client.post("/comments").status_code == 204
        assert client.portal.call(plugin_of(app).inbox.unread_count(ADA)) == 1


def test_the_routes_serve_the_current_users_notifications(database_url):
    app = build(url=database_url, routes="/notifications")

    async def seed() -> list[str]:
        ids = []
        for n in range(3):
            ids += await notify(ADA, ArticleCommented("dragons", f"comment {n}"))
        await notify(BOB, ArticleCommented("dragons", "for bob"))
        return ids

    with TestClient(app) as client:
        ids = client.portal.call(seed())
        page = client.get("/notifications", headers=auth(1)).json()
        assert page["unread"] == 3
        assert [n["id"] for n in page["notifications"]] == ids[::-1]
        first = page["notifications"][0]
        assert set(first) == {"id", "type", "data", "created_at", "read_at"}
        assert first["data"] == {"article": "dragons", "comment": "comment 2"}
        assert first["read_at"] is None and first["created_at"].endswith("Z")

        second_page = client.get(
            "/notifications", params={"limit": 2, "before": ids[2]}, headers=auth(1)
        ).json()
        assert [n["id"] for n in second_page["notifications"]] == [ids[1], ids[0]]
        assert client.get("/notifications/unread-count", headers=auth(1)).json() == {"unread": 3}

        read = client.post(f"/notifications/{ids[0]}/read", headers=auth(1))
        assert read.status_code == 200 and read.json()["read_at"] is not None
        unread = client.get("/notifications?unread=true", headers=auth(1)).json()
        assert [n["id"] for n in unread["notifications"]] == [ids[2], ids[1]]
        assert client.post("/notifications/read-all", headers=auth(1)).json() == {"marked": 2}
        assert client.get("/notifications/unread-count", headers=auth(2)).json() == {"unread": 1}

        # Someone else's notification, or an id that does not exist: 404, never a hint.
        assert client.post(f"/notifications/{ids[0]}/read", headers=auth(2)).status_code == 404
        missing = client.post("/notifications/nope/read", headers=auth(1))
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_bad_input_and_anonymous_requests_get_4xx_problems(database_url):
    app = build(url=database_url, routes="/notifications")
    with TestClient(app) as client:
        for path in ("/notifications", "/notifications/unread-count"):
            assert client.get(path).status_code == 401
        assert client.post("/notifications/read-all").status_code == 401
        for query, field in (
            ({"limit": 0}, "query.limit"),
            ({"limit": 101}, "query.limit"),
            ({"limit": "x"}, "query.limit"),
            ({"unread": "perhaps"}, "query.unread"),
            ({"before": "x" * 65}, "query.before"),
        ):
            response = client.get("/notifications", params=query, headers=auth(1))
            assert response.status_code == 422, query
            assert response.json()["errors"][0]["field"] == field
        long_id = client.post(f"/notifications/{'a' * 65}/read", headers=auth(1))
        assert long_id.status_code == 422


def test_the_routes_are_documented_in_openapi(tmp_path):
    app = build(url=f"sqlite+aiosqlite:///{tmp_path / 'doc.db'}", routes="/notifications")
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert {
        "/notifications",
        "/notifications/unread-count",
        "/notifications/read-all",
        "/notifications/{notification_id}/read",
    } <= set(paths)
    listing = paths["/notifications"]["get"]
    assert listing["tags"] == ["notifications"]
    assert {"200", "401", "422"} <= set(listing["responses"])
    assert {p["name"] for p in listing["parameters"]} == {"unread", "limit", "before"}
    assert listing["security"]
    page = document["components"]["schemas"]["NotificationPage"]
    assert set(page["properties"]) == {"notifications", "unread"}
    stored = document["components"]["schemas"]["StoredNotification"]
    assert stored["properties"]["created_at"]["format"] == "date-time"
    assert "404" in paths["/notifications/{notification_id}/read"]["post"]["responses"]


def test_a_missing_table_says_to_run_the_migration(tmp_path):
    from bastion import App, Settings
    from bastion.db import SQLAlchemyPlugin
    from bastion.exceptions import ConfigurationError
    from bastion.notifications import NotificationsPlugin

    plugin = NotificationsPlugin()
    app = App(
        settings=Settings(profile="test"),
        plugins=[SQLAlchemyPlugin(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"), plugin],
    )

    async def main() -> None:
        async with app.lifespan():
            with pytest.raises(ConfigurationError, match="bastion db upgrade"):
                await plugin.notify(ADA, ArticleCommented("a", "b"))
            with pytest.raises(ConfigurationError, match="bastion db upgrade"):
                await plugin.inbox.unread_count(ADA)

    asyncio.run(main())


async def test_handlers_ask_for_the_inbox_by_type(tmp_path):
    app = build(url=f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")

    @app.get("/badge")
    async def badge(inbox: Inbox) -> dict[str, int]:
        return {"unread": await inbox.unread_count(ADA)}

    async with AsyncTestClient(app) as client:
        await notify(ADA, ArticleCommented("a", "b"))
        assert (await client.get("/badge")).json() == {"unread": 1}


def test_in_isolated_tests_notifications_are_rolled_back_with_the_rest(tmp_path):
    """bastion.db.testing binds sessions to one connection whose transaction each test rolls
    back: the inbox joins it (a connection of its own would escape the rollback, and on
    SQLite wait for the test's lock)."""
    from bastion.db import SQLAlchemyPlugin
    from bastion.db.testing import isolated_sync

    app = build(url=f"sqlite+aiosqlite:///{tmp_path / 'iso.db'}", routes="/notifications")
    database = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))

    @app.post("/comments")
    async def comment(db: AsyncSession) -> None:
        await notify(ADA, ArticleCommented("dragons", "hello"))

    with TestClient(app) as client:
        with isolated_sync(client, database):
            assert client.post("/comments").status_code == 204
            assert client.get("/notifications/unread-count", headers=auth(1)).json() == {
                "unread": 1
            }
            assert client.post("/notifications/read-all", headers=auth(1)).json() == {"marked": 1}
        assert client.portal.call(plugin_of(app).inbox.list(ADA)) == []


def test_ids_that_cannot_be_ours_are_unknown_not_errors(database_url):
    """PostgreSQL refuses text holding NUL: a path or query carrying one was a 500."""
    app = build(url=database_url, routes="/notifications")
    with TestClient(app) as client:
        client.portal.call(notify(ADA, ArticleCommented("a", "b")))
        for bad in ("\x00", "a\x00b", "é" * 10, "0" * 31 + "\x00", "DROP TABLE"):
            path = f"/notifications/{quote(bad, safe='')}/read"
            assert client.post(path, headers=auth(1)).status_code == 404
            listed = client.get("/notifications", params={"before": bad}, headers=auth(1))
            assert listed.status_code == 200 and listed.json()["notifications"] == []
        assert client.portal.call(plugin_of(app).inbox.get(ADA, "\x00")) is None
