"""The envelope every paginated answer shares, and the response that adds its ``Link``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from bastion.http.response import JSONResponse
from bastion.pagination._links import link_header

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    """One page: its ``items``, how many match in all (``total``, None when not counted:
    a COUNT costs a scan) and the relative links to the ``next`` and ``prev`` pages."""

    items: list[T]
    total: int | None = None
    next: str | None = None
    prev: str | None = None


class PageResponse(JSONResponse):
    """``page`` as JSON with its links also in an RFC 8288 ``Link`` header.

    ``envelope=False`` sends the bare list of items (the links then live only in the header,
    and a counted total in ``X-Total-Count``). Declare the body for OpenAPI with
    ``response_model=Page[Item]`` (or ``list[Item]``) on the route.
    """

    __slots__ = ()
    openapi_headers: ClassVar[dict[str, Any]] = {
        "Link": {
            "description": 'RFC 8288 links to the pages around this one (rel="next", "prev")',
            "schema": {"type": "string"},
        },
        "X-Total-Count": {
            "description": "How many items match in all, when the body is a bare list",
            "schema": {"type": "integer"},
        },
    }

    def __init__(
        self,
        page: Page[T],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        envelope: bool = True,
    ) -> None:
        super().__init__(page if envelope else page.items, status_code, headers)
        links = link_header(next=page.next, prev=page.prev)
        if links is not None:
            self.raw_headers.append((b"link", links.encode("latin-1")))
        if not envelope and page.total is not None:
            self.raw_headers.append((b"x-total-count", str(page.total).encode()))
