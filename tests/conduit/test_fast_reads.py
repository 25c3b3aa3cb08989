"""Conduit's read endpoints answer byte for byte what they answered on the ORM (the reference
in _orm_reference.py, run on the same rows), for every reader, on SQLite and PostgreSQL, on
the driver path (PostgreSQL, idle sessions) and through the session (test isolation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from bastion import Settings
from bastion.auth import PasswordHasher
from bastion.db import SQLAlchemyPlugin
from bastion.db.testing import isolated_sync
from bastion.testing import TestClient
from examples.conduit.app import create_app
from examples.conduit.models import User
from tests.conduit import _orm_reference as reference
from tests.conduit.conftest import Api, bastion_db, new_postgres_database

Client = tuple[TestClient, SQLAlchemyPlugin]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def conduit_rows(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, SQLAlchemyPlugin, dict[str, dict[str, str]]]]:
    """A Conduit of its own (committed rows, no isolation: on PostgreSQL reads run on the
    driver), with users who follow, favourite, comment and tag in every way that shows."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fast') / 'conduit.db'}"
    else:
        url = new_postgres_database(request.getfixturevalue("postgres_url"))
    bastion_db(url, "upgrade")
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app = create_app(Settings(profile="test"), database_url=url, hasher=hasher)
    database = next(p for p in app.plugins if isinstance(p, SQLAlchemyPlugin))
    with TestClient(app) as client:
        api = Api(client)
        auth = {name: api.register(name) for name in ("ann", "bob", "cy")}
        client.put(
            "/api/user",
            json={"user": {"bio": 'Says "hi" <b>', "image": "https://x/a.png"}},
            headers=auth["ann"],
        )
        for follower, followed in [("ann", "bob"), ("bob", "ann"), ("bob", "bob")]:
            client.post(f"/api/profiles/{followed}/follow", headers=auth[follower])
        api.article(auth["ann"], "Dragons", ["b", "A", "a", "Ä", "z"])
        api.article(auth["bob"], "Kittens")
        api.article(auth["cy"], "Ünïcödé title", ["x"])
        api.article(auth["ann"], "Dragons", ["A"])
        for fan, slug in [
            ("bob", "dragons"),
            ("cy", "dragons"),
            ("cy", "kittens"),
            ("ann", "dragons"),
        ]:
            client.post(f"/api/articles/{slug}/favorite", headers=auth[fan])
        api.comment(auth["bob"], "dragons", "Nice")
        api.comment(auth["ann"], "dragons", "Thanks ✓")
        api.comment(auth["cy"], "kittens", "Meow")
        yield client, database, auth


LISTS = [
    "",
    "?limit=2&offset=1",
    "?offset=100",
    "?limit=0",
    "?tag=A",
    "?tag=a",
    "?tag=missing",
    "?author=ann",
    "?author=nobody",
    "?favorited=cy",
    "?author=ann&tag=A&favorited=bob",
]
SLUGS = ["dragons", "kittens", "unicode-title", "dragons-2", "missing"]
NAMES = ["ann", "bob", "cy", "missing"]


def requests(reader: str | None) -> list[tuple[str, Any]]:
    """(path, the reference's answer as a coroutine function of (db, viewer))."""
    cases: list[tuple[str, Any]] = [("/api/tags", lambda db, viewer: reference.tags(db))]
    for query in LISTS:
        params = dict(pair.split("=") for pair in query[1:].split("&") if pair)
        numbers = {k: int(v) for k, v in params.items() if k in ("limit", "offset")}
        words = {k: v for k, v in params.items() if k not in numbers}
        cases.append(
            (
                f"/api/articles{query}",
                lambda db, viewer, w=words, n=numbers: reference.article_list(db, viewer, **w, **n),
            )
        )
        if reader is not None and "tag" not in query and "author" not in query:
            cases.append(
                (
                    f"/api/articles/feed{query}",
                    lambda db, viewer, n=numbers: reference.feed(db, viewer, **n),
                )
            )
    for slug in SLUGS:
        cases.append(
            (f"/api/articles/{slug}", lambda db, viewer, s=slug: reference.article(db, viewer, s))
        )
        cases.append(
            (
                f"/api/articles/{slug}/comments",
                lambda db, viewer, s=slug: reference.comments(db, viewer, s),
            )
        )
    for name in NAMES:
        cases.append(
            (
                f"/api/profiles/{name}",
                lambda db, viewer, n=name: reference.profile_of(db, viewer, n),
            )
        )
    return cases


def expected_answers(
    client: TestClient, database: SQLAlchemyPlugin, reader: str | None
) -> dict[str, bytes | None]:
    async def run() -> dict[str, bytes | None]:
        assert database.sessions is not None
        answers: dict[str, bytes | None] = {}
        async with database.sessions() as db:
            viewer = (
                None
                if reader is None
                else await db.scalar(select(User).where(User.username == reader))
            )
            for path, answer in requests(reader):
                found = await answer(db, viewer)
                answers[path] = None if found is None else msgspec.json.encode(found)
        return answers

    return client.portal.call(run())


def check_every_read(
    client: TestClient, database: SQLAlchemyPlugin, auth: dict[str, dict[str, str]]
) -> int:
    checked = 0
    for reader in (None, "ann", "bob", "cy"):
        headers = {} if reader is None else auth[reader]
        for path, expected in expected_answers(client, database, reader).items():
            response = client.get(path, headers=headers)
            if expected is None:
                assert response.status_code == 404, (path, response.text)
                assert list(response.json()["errors"]) in (["article"], ["profile"])
            else:
                assert response.status_code == 200, (path, response.text)
                assert response.content == expected, (reader, path)
            checked += 1
    return checked


def test_reads_answer_what_the_orm_answered_byte_for_byte(conduit_rows) -> None:
    client, database, auth = conduit_rows
    assert check_every_read(client, database, auth) > 100


def test_reads_through_the_session_answer_the_same(conduit_rows) -> None:
    client, database, auth = conduit_rows
    with isolated_sync(client, database):  # isolated sessions: Prepared runs through them
        assert check_every_read(client, database, auth) > 100


def test_on_postgres_reads_run_on_the_driver_not_through_sqlalchemy(conduit_rows) -> None:
    client, database, auth = conduit_rows
    if database.engine is None or database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads go through the session")
    from sqlalchemy import event

    seen: list[str] = []
    event.listen(
        database.engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_: seen.append(sql),
    )
    for headers in ({}, auth["ann"]):
        for path in (
            "/api/articles/dragons",
            "/api/articles/dragons/comments",
            "/api/profiles/bob",
            "/api/articles?author=ann&limit=1",
            "/api/tags",
        ):
            assert client.get(path, headers=headers).status_code == 200
    assert client.get("/api/articles/feed", headers=auth["ann"]).status_code == 200
    assert seen == []
