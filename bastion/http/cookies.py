"""Cookie parsing (request side) and ``Set-Cookie`` building with secure defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Literal

SameSite = Literal["lax", "strict", "none"]


def parse_cookie_header(header: str) -> dict[str, str]:
    """``a=1; b=2`` → ``{"a": "1", "b": "2"}``; tolerant of junk, as browsers send it."""
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        key, sep, value = chunk.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(key, value)
    return cookies


def build_set_cookie(
    key: str,
    value: str = "",
    *,
    max_age: int | None = None,
    expires: datetime | None = None,
    path: str = "/",
    domain: str | None = None,
    secure: bool = True,
    httponly: bool = True,
    samesite: SameSite | None = "lax",
    partitioned: bool = False,
) -> str:
    """One ``Set-Cookie`` header value. Defaults are the safe ones: Secure, HttpOnly, Lax."""
    if samesite == "none" and not secure:
        raise ValueError("SameSite=None cookies must be Secure (browsers reject them otherwise)")
    cookie: SimpleCookie = SimpleCookie()
    cookie[key] = value
    morsel = cookie[key]
    if max_age is not None:
        morsel["max-age"] = max_age
    if expires is not None:
        from email.utils import format_datetime

        morsel["expires"] = format_datetime(expires.astimezone(UTC), usegmt=True)
    morsel["path"] = path
    if domain:
        morsel["domain"] = domain
    if secure:
        morsel["secure"] = True
    if httponly:
        morsel["httponly"] = True
    if samesite:
        morsel["samesite"] = samesite.capitalize()
    text = morsel.OutputString()
    return f"{text}; Partitioned" if partitioned else text
