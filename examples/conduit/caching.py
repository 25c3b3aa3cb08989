"""What Conduit caches, and which writes invalidate it.

``GET /api/tags`` and ``GET /api/articles`` (every filter and page) are served from the app's
default cache to anonymous readers: what they see depends on nobody's flags (``favorited``
and ``following`` are false for them), so one stored answer is right for all of them.
Requests with a token skip the cache, as ``CachePolicy`` does by default: their answers say
what *that* reader favourited and follows, and are never stored or shared.

Each cached answer carries a tag; a write that changes what such answers show invalidates
it once its transaction commits:

- ``articles`` (every list): an article created, changed or deleted, a favourite added or
  removed (``favoritesCount``, ``?favorited=``), an author's username, bio or image changed;
- ``tags`` (``GET /api/tags``): an article created or deleted, or its ``tagList`` changed.

Following someone changes no cached answer (anonymous readers follow nobody), so it
invalidates nothing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bastion.cache import Cache, CachePolicy
from bastion.db import on_commit

ARTICLES = "articles"
TAGS = "tags"
#: Seconds an answer is kept. Writes invalidate at once; the TTL bounds what invalidation
#: cannot reach: several processes each on a memory cache, a cache down during a write.
TTL = 60


def cached(*tags: str) -> CachePolicy:
    """The policy of Conduit's cached routes. ``max_age=0`` sends ``Cache-Control: no-cache``:
    browsers and proxies revalidate every time, since only the server hears of the writes
    that invalidate; ``Vary: authorization`` tells them an answer to a token is another one."""
    return CachePolicy(ttl=TTL, tags=tags, vary=("authorization",), max_age=0)


def invalidate(db: AsyncSession, cache: Cache, *tags: str) -> None:
    """Drop the answers tagged ``tags`` once ``db`` commits, before the write is answered.
    Not before the commit: a read between the two would store the old rows again (and a
    write rolled back changes nothing)."""
    on_commit(db, lambda: cache.invalidate_tags(*tags))
