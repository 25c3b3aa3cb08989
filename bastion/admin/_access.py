"""Who is using the admin: a signed cookie of its own (path ``/admin``, HttpOnly,
SameSite=Strict) holds the user's id, a fingerprint of their password hash (changing the
password ends the admin session, as ``bastion.auth.login`` does) and a CSRF secret that
every POST must echo. The cookie is the admin's own so that an app whose API takes bearer
tokens (Conduit) does not start accepting cookies on that API.

Staff are users with at least one grant in ``bastion_admin_grants``: ``*`` or
``<model>.<view|add|change|delete>``; an app can give its own ``permissions`` function.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bastion.admin._schema import grants
from bastion.auth._signing import load_list
from bastion.auth.login import password_check
from bastion.http.request import Request

COOKIE = "bastion_admin"
#: An admin session lasts this long after the log-in, whatever the activity.
MAX_AGE = 12 * 3600

Permissions = Callable[[Any, AsyncSession], Awaitable[Iterable[str]]]


@dataclass
class Staff:
    """The logged-in user and what they may do."""

    user: Any
    subject: str
    name: str
    permissions: frozenset[str]
    csrf: str

    def may(self, model: str, action: str) -> bool:
        return "*" in self.permissions or f"{model}.{action}" in self.permissions


def grants_of(subject_of: Callable[[Any], str]) -> Permissions:
    """The default ``permissions``: the user's rows in ``bastion_admin_grants``."""

    async def permissions(user: Any, db: AsyncSession) -> Iterable[str]:
        rows = await db.scalars(
            sa.select(grants.c.permission).where(grants.c.subject == subject_of(user))
        )
        return list(rows)

    return permissions


async def grant(db: AsyncSession, user: Any, *permissions: str) -> None:
    """Give ``user`` (an object with ``id``, or the id as text) admin permissions, e.g.
    ``await grant(db, alice, "*")`` or ``await grant(db, bob, "article.view")``."""
    subject = user if isinstance(user, str) else str(user.id)
    have = set(await db.scalars(sa.select(grants.c.permission).where(grants.c.subject == subject)))
    rows = [{"subject": subject, "permission": p} for p in permissions if p not in have]
    if rows:
        await db.execute(sa.insert(grants).values(rows))


def cookie_payload(request: Request, serializer: Any) -> list[Any] | None:
    raw = request.cookies.get(COOKIE)
    if raw is None or len(raw) > 4096:
        return None
    return load_list(serializer, raw, MAX_AGE, str, str, str)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_matches(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected, given)


def fingerprint(user: Any) -> str:
    return password_check(user) or ""
