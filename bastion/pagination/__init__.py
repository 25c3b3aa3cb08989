"""Pagination for any handler: page/size or cursor (keyset), for SQLAlchemy queries and
plain sequences, answered as a ``Page`` envelope with next/prev links (and an RFC 8288
``Link`` header through ``PageResponse``).

    @app.get("/books", response_model=Page[BookOut])
    async def books(db: AsyncSession, params: Cursors) -> PageResponse:
        return PageResponse(await params.query(db, select(Book), order=[Book.title], into=BookOut))
"""

from bastion.pagination._cursor import CursorParams, Cursors, cursors
from bastion.pagination._links import link, link_header
from bastion.pagination._offset import PageParams, Pages, pages
from bastion.pagination._page import Page, PageResponse

__all__ = [
    "CursorParams",
    "Cursors",
    "Page",
    "PageParams",
    "PageResponse",
    "Pages",
    "cursors",
    "link",
    "link_header",
    "pages",
]
