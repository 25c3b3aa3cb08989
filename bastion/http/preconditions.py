"""Conditional requests (RFC 9110 §13): entity tags, HTTP dates and the checks made with
them, shared by files, ``ConditionalGet`` and CRUD resources."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC

from bastion.http.headers import Headers

_ETAGS = re.compile(r'(?:W/)?"[^"]*"|\*')


def body_etag(body: bytes, *, weak: bool = False) -> str:
    """An entity tag for exactly these bytes."""
    tag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
    return "W/" + tag if weak else tag


def listed_etags(header: str) -> list[str]:
    """The tags of an ``If-Match``/``If-None-Match`` value (``*`` included)."""
    return _ETAGS.findall(header)


def not_modified(request: Headers, etag: str | None, modified: int | None) -> bool:
    """The client's copy is current: ``If-None-Match`` decides when sent (weak comparison),
    else ``If-Modified-Since`` against ``modified`` (a Unix time)."""
    tags = request.getlist("if-none-match")
    if tags:
        found = listed_etags(",".join(tags))
        if "*" in found:
            return etag is not None
        return etag is not None and etag.removeprefix("W/") in (
            tag.removeprefix("W/") for tag in found
        )
    since = http_date(request.get("if-modified-since"))
    return since is not None and modified is not None and modified <= since


def http_date(value: str | None) -> int | None:
    """An HTTP date as a Unix timestamp, or None when absent or unparseable."""
    if not value:
        return None
    from email.utils import parsedate_to_datetime  # pulls in socket and email: only when used

    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # ``-0000`` parses naive; HTTP dates are always UTC
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())
