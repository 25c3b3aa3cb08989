"""Conduit caches GET /api/tags and anonymous article lists (examples/conduit/caching.py):
a repeated read runs no query, every write that changes what they show invalidates them, and
an answer that depends on the reader (favorited, following) is never stored or shared."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from bastion.auth import PasswordHasher
from bastion.db import SQLAlchemyPlugin
from bastion.testing import TestClient
from examples.conduit.app import ConduitSettings, create_app
from examples.conduit.models import ConduitModel
from tests.conduit.conftest import Api

LISTS = [
    "/api/tags",
    "/api/articles",
    "/api/articles?tag=dragons",
    "/api/articles?author=jake",
    "/api/articles?favorited=jake",
    "/api/articles?limit=1&offset=1",
]


@contextmanager
def queries(client: TestClient) -> Iterator[list[str]]:
    """The SQL statements the app runs meanwhile."""
    database = next(p for p in client.app.plugins if isinstance(p, SQLAlchemyPlugin))
    assert database.engine is not None
    run: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        run.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield run
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


def some_articles(api: Api) -> dict[str, str]:
    jake = api.register("jake")
    api.article(jake, "Dragons", tags=["dragons", "training"])
    api.article(jake, "Angular", tags=["angular"])
    api.client.post("/api/articles/dragons/favorite", headers=jake)
    return jake


@pytest.mark.parametrize("path", LISTS)
def test_a_second_anonymous_read_is_served_from_the_cache(client, api, path):
    some_articles(api)
    first = client.get(path)
    assert first.status_code == 200 and "age" not in first.headers
    with queries(client) as run:
        second = client.get(path)
    assert run == []  # no handler, no session, no query
    assert second.status_code == 200 and int(second.headers["age"]) >= 0
    assert second.content == first.content  # byte for byte
    assert second.headers["etag"] == first.headers["etag"]


def test_cached_answers_tell_browsers_to_revalidate_and_vary_on_the_token(client):
    for response in (client.get("/api/articles"), client.get("/api/articles")):
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["vary"] == "authorization"
    assert client.get("/api/tags").headers["cache-control"] == "no-cache"


def test_creating_an_article_shows_it_and_its_tags_at_once(client, api):
    jake = api.register("jake")
    assert client.get("/api/tags").json() == {"tags": []}
    assert client.get("/api/articles").json() == {"articles": [], "articlesCount": 0}
    assert client.get("/api/articles?tag=dragons").json()["articlesCount"] == 0
    api.article(jake, "Dragons", tags=["dragons"])
    assert client.get("/api/tags").json() == {"tags": ["dragons"]}
    assert [a["slug"] for a in client.get("/api/articles").json()["articles"]] == ["dragons"]
    assert client.get("/api/articles?tag=dragons").json()["articlesCount"] == 1


def test_updating_an_article_shows_the_change(client, api, ticking_clock):
    jake = api.register("jake")
    api.article(jake, "Dragons", tags=["dragons"])
    assert client.get("/api/articles").json()["articles"][0]["title"] == "Dragons"
    assert client.get("/api/tags").json() == {"tags": ["dragons"]}
    changes = {"article": {"title": "Wyverns", "tagList": ["wyverns"]}}
    assert client.put("/api/articles/dragons", json=changes, headers=jake).status_code == 200
    [article] = client.get("/api/articles").json()["articles"]
    assert (article["title"], article["slug"], article["tagList"]) == (
        "Wyverns",
        "wyverns",
        ["wyverns"],
    )
    assert client.get("/api/tags").json() == {"tags": ["wyverns"]}

    listed = client.get("/api/articles").json()["articles"][0]["updatedAt"]
    assert (
        client.put(
            "/api/articles/wyverns", json={"article": {"body": "New"}}, headers=jake
        ).status_code
        == 200
    )
    assert client.get("/api/articles").json()["articles"][0]["updatedAt"] > listed


def test_deleting_an_article_removes_it_and_its_lonely_tags(client, api):
    jake = api.register("jake")
    api.article(jake, "Dragons", tags=["dragons"])
    api.article(jake, "Kept", tags=["kept"])
    assert client.get("/api/articles").json()["articlesCount"] == 2
    assert client.get("/api/tags").json() == {"tags": ["dragons", "kept"]}
    assert client.delete("/api/articles/dragons", headers=jake).status_code == 204
    assert [a["slug"] for a in client.get("/api/articles").json()["articles"]] == ["kept"]
    assert client.get("/api/tags").json() == {"tags": ["kept"]}


def test_favouriting_updates_the_count_and_the_favorited_filter(client, api):
    jake = api.register("jake")
    api.article(jake, "Dragons")
    assert client.get("/api/articles").json()["articles"][0]["favoritesCount"] == 0
    assert client.get("/api/articles?favorited=jake").json()["articlesCount"] == 0
    client.post("/api/articles/dragons/favorite", headers=jake)
    assert client.get("/api/articles").json()["articles"][0]["favoritesCount"] == 1
    assert client.get("/api/articles?favorited=jake").json()["articlesCount"] == 1
    client.delete("/api/articles/dragons/favorite", headers=jake)
    assert client.get("/api/articles").json()["articles"][0]["favoritesCount"] == 0
    assert client.get("/api/articles?favorited=jake").json()["articlesCount"] == 0


def test_a_favourite_that_changes_nothing_keeps_the_cache(client, api):
    jake = api.register("jake")
    api.article(jake, "Dragons")
    client.delete("/api/articles/dragons/favorite", headers=jake)  # not a favourite yet
    client.get("/api/articles")
    client.delete("/api/articles/dragons/favorite", headers=jake)
    assert "age" in client.get("/api/articles").headers


def test_an_author_changing_their_profile_shows_in_the_lists(client, api):
    jake = api.register("jake")
    api.article(jake, "Dragons")
    assert client.get("/api/articles").json()["articles"][0]["author"]["bio"] is None
    assert client.get("/api/articles?author=jake").json()["articlesCount"] == 1
    changes = {
        "user": {"username": "jacob", "bio": "I train dragons", "image": "https://x.test/j.png"}
    }
    assert client.put("/api/user", json=changes, headers=jake).status_code == 200
    author = client.get("/api/articles").json()["articles"][0]["author"]
    assert author == {
        "username": "jacob",
        "bio": "I train dragons",
        "image": "https://x.test/j.png",
        "following": False,
    }
    assert client.get("/api/articles?author=jake").json()["articlesCount"] == 0
    assert client.get("/api/articles?author=jacob").json()["articlesCount"] == 1


def test_a_write_that_is_refused_invalidates_nothing(client, api):
    jake, other = api.register("jake"), api.register("other")
    api.article(jake, "Dragons")
    client.get("/api/articles")
    assert (
        client.put(
            "/api/articles/dragons", json={"article": {"title": "Mine"}}, headers=other
        ).status_code
        == 403
    )
    assert client.delete("/api/articles/dragons", headers=other).status_code == 403
    assert (
        client.post("/api/articles", json={"article": {"title": " "}}, headers=jake).status_code
        == 422
    )
    assert "age" in client.get("/api/articles").headers


def test_readers_with_a_token_see_their_own_flags_never_the_cached_or_anothers(client, api):
    jake = some_articles(api)  # jake favourited his "dragons"
    ann = api.register("ann")
    assert client.post("/api/profiles/jake/follow", headers=ann).status_code == 200
    assert client.post("/api/articles/angular/favorite", headers=ann).status_code == 200
    anonymous = client.get("/api/articles").json()  # now cached
    assert client.get("/api/articles").headers.get("age") is not None

    def flags(auth: dict[str, str] | None) -> dict[str, tuple[bool, bool]]:
        with queries(client) as run:
            response = client.get("/api/articles", headers=auth)
        if auth is not None:  # answered by the handler, not from the cache, and not stored
            assert run and "age" not in response.headers
        return {
            a["slug"]: (a["favorited"], a["author"]["following"])
            for a in response.json()["articles"]
        }

    for _ in range(2):  # the second time too: nobody's answer was stored for the others
        assert flags(ann) == {"dragons": (False, True), "angular": (True, True)}
        assert flags(jake) == {"dragons": (True, False), "angular": (False, False)}
        assert flags(None) == {"dragons": (False, False), "angular": (False, False)}
    assert client.get("/api/articles").json() == anonymous
    counts = {a["slug"]: a["favoritesCount"] for a in anonymous["articles"]}
    assert counts == {"dragons": 1, "angular": 1}


def test_a_bad_token_is_refused_while_an_anonymous_answer_is_cached(client, api):
    some_articles(api)
    client.get("/api/articles")
    response = client.get("/api/articles", headers={"Authorization": "Token not-a-jwt"})
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}


def test_a_head_request_does_not_cache_an_empty_body_for_gets(client, api):
    some_articles(api)
    assert client.head("/api/articles").status_code == 200
    listing = client.get("/api/articles")
    assert listing.json()["articlesCount"] == 2


# -- several processes on one Redis ----------------------------------------------------------
async def create_tables(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(ConduitModel.metadata.create_all)
    await engine.dispose()


def test_two_processes_sharing_redis_see_each_others_writes(tmp_path: Path, redis_url: str):
    """As two `bastion serve` workers would: a write through one app invalidates the answer the
    other cached, because both keep it in the Redis that ``cache_url`` names."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'conduit.db'}"
    asyncio.run(create_tables(url))
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    settings = ConduitSettings(profile="test", app_name="conduit", cache_url=redis_url)
    with (
        TestClient(create_app(settings, database_url=url, hasher=hasher)) as one,
        TestClient(create_app(settings, database_url=url, hasher=hasher)) as two,
    ):
        assert two.get("/api/tags").json() == {"tags": []}
        assert "age" in one.get("/api/tags").headers  # cached by the other process
        Api(one).article(Api(one).register("jake"), "Dragons", tags=["dragons"])
        assert two.get("/api/tags").json() == {"tags": ["dragons"]}
        assert two.get("/api/articles").json()["articlesCount"] == 1
