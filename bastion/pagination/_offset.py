"""Page/size pagination: ``?page=3&size=50``, counted, with next and previous links.

Offsets are simple and let a client jump to any page, but a row inserted before the page
shifts what it holds, and a deep OFFSET makes the database walk every row before it: for
feeds and large tables use cursors (``_cursor.py``).
"""

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.di.depends import Depends
from bastion.http.request import Request
from bastion.pagination._bounds import size_param, wanted_size
from bastion.pagination._links import link
from bastion.pagination._page import Page
from bastion.pagination._rows import count, fetch, shaped
from bastion.params.markers import Query

T = TypeVar("T")
#: The highest page number taken: its offset then fits any database's 64-bit OFFSET.
MAX_PAGE = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PageParams:
    """Which page a request asks for. Built by the ``Pages`` dependency, or by hand
    (``PageParams(page=2, size=50)``) where no request is at hand; without a ``request``
    the page has no links."""

    page: int = 1
    size: int = 20
    count: bool = True
    request: Request | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    async def query(
        self, db: AsyncSession, statement: Select[Any], *, into: Any = None
    ) -> Page[Any]:
        """One page of ``statement`` (which should be ordered, with a unique last key, so
        pages neither repeat nor skip rows), each row shaped ``into`` a schema if given."""
        rows = await fetch(db, statement.limit(self.size + 1).offset(self.offset))
        total = await count(db, statement) if self.count else None
        return self._page(shaped(rows[: self.size], into), total, len(rows) > self.size)

    def sequence(self, items: Any, *, into: Any = None) -> Page[Any]:
        """One page of a list (or any sequence), its length as the total."""
        chosen = items[self.offset : self.offset + self.size]
        return self._page(shaped(chosen, into), len(items), self.offset + self.size < len(items))

    def _page(self, items: list[Any], total: int | None, more: bool) -> Page[Any]:
        request = self.request
        if request is None:
            return Page(items, total)
        following = link(request, page=self.page + 1) if more else None
        previous = link(request, page=self.page - 1 if self.page > 2 else None)
        return Page(items, total, following, previous if self.page > 1 else None)


def pages(*, size: int | None = None, max_size: int | None = None, count: bool = True) -> Depends:
    """A ``PageParams`` dependency reading ``page`` and ``size`` from the query string:
    ``params: Annotated[PageParams, pages(max_size=500)]``.

    ``size``/``max_size`` default to the settings' ``page_size``/``max_page_size``;
    ``count=False`` skips the COUNT (``total`` is then None).
    """
    size_type = size_param(size, max_size)
    wanted = wanted_size(size, max_size)

    async def page_params(
        request: Request,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="The page number, from 1")] = 1,
        size: size_type = None,  # type: ignore[valid-type]
    ) -> PageParams:
        return PageParams(page, wanted(request, size), count, request)

    return Depends(page_params)


#: ``params: Pages``: page/size pagination with the settings' bounds, counted.
Pages = Annotated[PageParams, pages()]
