"""The links of a ``CRUDRouter`` list page, made by ``bastion.pagination``'s ``link``.

The list keeps its own wire parameters (``limit``/``offset``, or ``after`` a primary key);
the envelope (``Page``), the links and the ``Link`` header are the shared ones.
"""

from __future__ import annotations

from typing import Any

from bastion.http.request import Request
from bastion.pagination import link


def around(
    request: Request, limit: int, offset: int, after: Any, more: bool, last: Any
) -> tuple[str | None, str | None]:
    """The next and previous pages: by ``after`` (keyset: forward only) or by ``offset``."""
    if after is not None:
        return (link(request, after=last, offset=None) if more else None), None
    following = link(request, offset=offset + limit) if more else None
    previous = link(request, offset=max(offset - limit, 0) or None) if offset > 0 else None
    return following, previous
