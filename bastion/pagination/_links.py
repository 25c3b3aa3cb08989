"""Links to the pages around one: relative references (path and query), so they hold behind
any proxy, keeping the request's other query parameters (filters, sort) as they were; and
the RFC 8288 ``Link`` header that carries them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from bastion.http.request import Request


def link(request: Request, **changes: Any) -> str:
    """The request's own path with ``changes`` made to its query (None removes a name)."""
    kept = [
        (name, value) for name, value in request.query_params.multi_items() if name not in changes
    ]
    kept += [(name, str(value)) for name, value in changes.items() if value is not None]
    path = request.scope.get("root_path", "") + request.path
    return f"{path}?{urlencode(kept)}" if kept else path


def link_header(**rels: str | None) -> str | None:
    """``Link: <...>; rel="next", <...>; rel="prev"`` for the links that exist, else None.

    The URLs come from ``link``: percent-encoded, so they hold no ``>`` to break out of.
    """
    parts = [f'<{url}>; rel="{rel}"' for rel, url in rels.items() if url]
    return ", ".join(parts) or None
