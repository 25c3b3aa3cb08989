"""How a list counts its rows: exactly for small tables and narrow results, PostgreSQL's
estimate for a big unfiltered table, at most ``COUNT_CAP`` rows for a filtered one; the next
page is known from the page query either way. The thresholds are lowered so the shop's 12
posts (5 a page) are "big"."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from bastion.admin import _listing
from tests.admin.conftest import sign_in


def titles(html: str) -> list[str]:
    return re.findall(r'<th scope="row"[^>]*><a href="/admin/post/\d+">([^<]+)</a>', html)


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_listing, "ESTIMATE_FROM", 10)
    monkeypatch.setattr(_listing, "COUNT_CAP", 3)


async def analyze(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("ANALYZE posts"))
    finally:
        await engine.dispose()


def test_a_big_table_shows_the_estimate_on_postgresql_and_counts_elsewhere(
    client, database_url, small_thresholds
):
    sign_in(client)
    postgres = database_url.startswith("postgresql")
    if postgres:
        client.portal.call(analyze(database_url))
    first = client.get("/admin/post").text
    if postgres:
        assert "about 12 rows" in first and "Page 1<" in first and "Page 1 of" not in first
    else:
        assert "12 rows" in first and "Page 1 of 3" in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get("/admin/post?page=3").text
    assert titles(last) == ["Post 10", "Post 11"]
    assert 'rel="next"' not in last and 'rel="prev"' in last
    past_the_end = client.get("/admin/post?page=9").text
    if postgres:  # the page numbers are not known: past the end is an empty page
        assert "Nothing found." in past_the_end and 'rel="prev"' in past_the_end
    else:  # known: the last page
        assert titles(past_the_end) == ["Post 10", "Post 11"]


def test_a_filtered_list_counts_up_to_the_cap(client, small_thresholds):
    sign_in(client)
    capped = client.get("/admin/post", params={"f.featured": "0"}).text  # 8 rows
    assert "more than 3 rows" in capped and 'rel="next"' in capped
    assert len(titles(capped)) == 5
    second = client.get("/admin/post", params={"f.featured": "0", "page": "2"}).text
    assert len(titles(second)) == 3 and 'rel="next"' not in second
    narrow = client.get("/admin/post", params={"q": "Post 03"}).text
    assert "1 row" in narrow and "Page" not in narrow
