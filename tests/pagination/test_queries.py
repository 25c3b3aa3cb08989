"""Page/size and cursor pagination over SQLAlchemy queries, on SQLite and PostgreSQL: links,
totals, the Link header, a cursor that stays put while rows are inserted, forged cursors."""

import datetime
from typing import Annotated, Any

import msgspec
import pytest
from sqlalchemy import DateTime, MetaData, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion.exceptions import ConfigurationError
from bastion.pagination import CursorParams, Cursors, Page, PageResponse, Pages, cursors
from bastion.pagination._cursor import keyset
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables


class Base(DeclarativeBase):
    metadata = MetaData()


class Event(Base):
    __tablename__ = "paged_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime.datetime] = mapped_column(DateTime())
    note: Mapped[str | None] = mapped_column(String(40))


class EventOut(msgspec.Struct):
    id: int
    title: str


START = datetime.datetime(2026, 1, 1)


def make_app(url: str) -> Any:
    app, _ = app_with_tables(url, Base.metadata)

    @app.post("/seed/{count:int}")
    async def seed(db: AsyncSession, count: int, first: int = 1) -> None:
        for n in range(first, first + count):
            # Two events share each instant: the primary key breaks the tie.
            db.add(Event(id=n, title=f"e{n}", at=START + datetime.timedelta(hours=n // 2)))

    @app.get("/pages")
    async def by_page(db: AsyncSession, params: Pages) -> Page[EventOut]:
        return await params.query(db, select(Event).order_by(Event.id), into=EventOut)

    @app.get("/feed", response_model=Page[EventOut])
    async def feed(db: AsyncSession, params: Cursors) -> PageResponse:
        page = await params.query(db, select(Event), order=[Event.at.desc()], into=EventOut)
        return PageResponse(page)

    @app.get("/counted")
    async def counted(
        db: AsyncSession, params: Annotated[CursorParams, cursors(size=3, max_size=5, count=True)]
    ) -> Page[EventOut]:
        return await params.query(
            db, select(Event).where(Event.id > 2), order=[Event.title], into=EventOut
        )

    @app.get("/rows")
    async def rows(db: AsyncSession, params: Cursors) -> Page[EventOut]:
        columns = select(Event.id, Event.title)  # rows, not entities
        return await params.query(db, columns, order=[Event.title.desc()], into=EventOut)

    return app


def ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


def test_pages_have_items_total_and_links_that_keep_the_query(database_url):
    with TestClient(make_app(database_url)) as client:
        client.post("/seed/45")
        first = client.get("/pages?size=20&tag=x").json()
        assert ids(first) == list(range(1, 21))
        assert first["total"] == 45 and first["prev"] is None
        assert first["next"] == "/pages?size=20&tag=x&page=2"
        last = client.get("/pages?size=20&tag=x&page=3").json()
        assert ids(last) == list(range(41, 46)) and last["next"] is None
        assert last["prev"] == "/pages?size=20&tag=x&page=2"
        second = client.get(last["prev"]).json()
        assert ids(second) == list(range(21, 41))
        assert second["prev"] == "/pages?size=20&tag=x"  # page 1 needs no parameter


def test_the_cursor_walks_forwards_and_back_in_a_descending_key_with_ties(database_url):
    with TestClient(make_app(database_url)) as client:
        client.post("/seed/25")
        seen: list[int] = []
        url: str | None = "/feed?size=7"
        pages = []
        while url:
            response = client.get(url)
            pages.append(response.json())
            seen += ids(response.json())
            url = response.json()["next"]
        # at descending, then id ascending within one instant
        expected = sorted(range(1, 26), key=lambda n: (-(n // 2), n))
        assert seen == expected
        assert pages[0]["prev"] is None and len(pages) == 4
        back = client.get(pages[2]["prev"]).json()
        assert ids(back) == ids(pages[1])
        assert client.get(back["prev"]).json()["prev"] is None  # the first page again


def test_a_cursor_stays_put_while_rows_are_inserted_before_it(database_url):
    with TestClient(make_app(database_url)) as client:
        client.post("/seed/20", params={"first": 100})
        first = client.get("/feed?size=5").json()
        # Newer events land at the top of the feed: an offset would now repeat rows.
        client.post("/seed/10", params={"first": 200})
        second = client.get(first["next"]).json()
        expected = sorted(range(100, 120), key=lambda n: (-(n // 2), n))
        assert ids(first) == expected[:5]
        assert ids(second) == expected[5:10]


def test_link_header_carries_next_and_prev(database_url):
    with TestClient(make_app(database_url)) as client:
        client.post("/seed/12")
        first = client.get("/feed?size=5")
        assert first.headers["link"] == f'<{first.json()["next"]}>; rel="next"'
        second = client.get(first.json()["next"])
        body = second.json()
        assert second.headers["link"] == (
            f'<{body["next"]}>; rel="next", <{body["prev"]}>; rel="prev"'
        )


def test_cursor_with_count_and_route_bounds(database_url):
    with TestClient(make_app(database_url)) as client:
        client.post("/seed/10")
        page = client.get("/counted").json()
        assert page["total"] == 8 and len(page["items"]) == 3
        assert client.get("/counted?size=6").status_code == 422


def test_a_tampered_cursor_is_a_422_problem_never_a_500(database_url):
    with TestClient(make_app(database_url)) as client:
        client.post("/seed/12")
        cursor = client.get("/feed?size=5").json()["next"].split("cursor=")[1]
        body, _, tag = cursor.partition(".")
        forged = [
            body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + tag,
            body,  # no MAC at all
            "!!!",
            "a." + tag,
            body + "." + tag[:-1],
        ]
        for bad in forged:
            response = client.get("/feed", params={"cursor": bad})
            assert response.status_code == 422, bad
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["errors"][0]["field"] == "query.cursor"
        # A genuine cursor of another list does not open this one.
        other = client.get("/counted").json()["next"].split("cursor=")[1]
        assert client.get("/feed", params={"cursor": other}).status_code == 422


def test_sizes_out_of_bounds_are_422_naming_the_parameter(database_url):
    with TestClient(make_app(database_url)) as client:
        for query in ("size=0", "size=101", "page=0", "page=x", "size=-1"):
            response = client.get(f"/pages?{query}")
            assert response.status_code == 422, query
            assert response.json()["errors"][0]["field"].startswith("query.")


def test_selected_columns_page_by_cursor_like_entities(database_url):
    with TestClient(make_app(database_url)) as client:
        client.post("/seed/9")
        first = client.get("/rows?size=4").json()
        second = client.get(first["next"]).json()
        titles = sorted((f"e{n}" for n in range(1, 10)), reverse=True)
        assert [i["title"] for i in first["items"] + second["items"]] == titles[:8]


def test_a_nullable_sort_column_is_refused_with_the_fix():
    with pytest.raises(ConfigurationError, match="nullable=False"):
        keyset([Event.note])
