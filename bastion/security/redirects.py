"""``safe_next``: follow a ``?next=`` parameter only to a path on this site.

Open redirects turn a trusted link (``https://you.example/login?next=…``) into a phishing
hop. Browsers are forgiving about what counts as another host: ``//evil``, ``/\\evil``,
``/\\t/evil`` (tabs and newlines are dropped), ``https:evil`` and their percent-encoded forms
all leave the site, and ``/..//evil`` does once its dot segments are resolved. So only
plain, printable ASCII paths starting with one ``/`` (also after resolving ``.`` and ``..``)
pass, checked again after each round of percent-decoding; everything else gives the default.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from bastion.http.request import Request

MAX_LENGTH = 2048
_DECODE_ROUNDS = 3


def safe_next(request: Request, value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default``.

    An absolute URL naming this very origin (``https://you.example/account``) is accepted
    and returned as its path; any other absolute URL, scheme or host is refused.
    """
    if not value or len(value) > MAX_LENGTH or not value.isascii():
        return default
    if not value.startswith("/"):
        value = _same_origin_path(request, value)
        if value is None:
            return default
    text = value
    for _ in range(_DECODE_ROUNDS):
        if not _plain_path(text):
            return default
        decoded = unquote(text)
        if decoded == text:
            return value
        text = decoded
    return default  # still encoded after several rounds: nothing legitimate looks like that


def _plain_path(text: str) -> bool:
    """One leading slash, no backslash, nothing a browser would strip or reinterpret."""
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return False
    if any(c < " " or c == "\x7f" for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc and not _resolved(parts.path).startswith("//")


def _resolved(path: str) -> str:
    """``path`` without its dot segments (RFC 3986 5.2.4), as a browser or proxy resolves
    it: ``/..//evil`` becomes ``//evil``, which a later redirect would send off-site."""
    kept: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    return "/" + "/".join(kept)


def _same_origin_path(request: Request, url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    own_scheme = request.scope.get("scheme", "http")
    own_host = request.headers.get("host", "").lower()
    if parts.scheme != own_scheme or not own_host or parts.netloc.lower() != own_host:
        return None
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{path}{query}{fragment}"
