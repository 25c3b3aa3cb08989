"""Pages of a ``CRUDRouter`` list: the page struct, and links to the pages around it.

Links are relative references (path and query), so they hold behind any proxy; they keep
the request's other query parameters (filters, ``sort``, ``limit``) as they were.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec

from bastion.http.request import Request


def page_struct(name: str, read: Any) -> type[msgspec.Struct]:
    """``<Model>Page``: the rows, how many match in all, and the next and previous pages."""
    return msgspec.defstruct(
        f"{name}Page",
        [("items", list[read]), ("total", int), ("next", str | None), ("prev", str | None)],
    )


def link(request: Request, **changes: Any) -> str:
    """The request's own path with ``changes`` made to its query (None removes a name)."""
    kept = [
        (name, value) for name, value in request.query_params.multi_items() if name not in changes
    ]
    kept += [(name, str(value)) for name, value in changes.items() if value is not None]
    path = request.scope.get("root_path", "") + request.path
    return f"{path}?{urlencode(kept)}" if kept else path


def around(
    request: Request, limit: int, offset: int, after: Any, more: bool, last: Any
) -> tuple[str | None, str | None]:
    """The next and previous pages: by ``after`` (keyset: forward only) or by ``offset``."""
    if after is not None:
        return (link(request, after=last, offset=None) if more else None), None
    following = link(request, offset=offset + limit) if more else None
    previous = link(request, offset=max(offset - limit, 0) or None) if offset > 0 else None
    return following, previous


def link_header(following: str | None, previous: str | None) -> str | None:
    """RFC 8288 ``Link`` for the bare list, which has no room for them in its body."""
    parts = [f'<{url}>; rel="{rel}"' for url, rel in ((following, "next"), (previous, "prev"))]
    kept = [part for part, url in zip(parts, (following, previous), strict=True) if url]
    return ", ".join(kept) or None
