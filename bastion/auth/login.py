"""``login`` and ``logout`` for session authentication.

Logging in rotates the session id, so an id an attacker planted before the login (session
fixation) is worth nothing after it, and with the CSRF middleware on it rotates the CSRF secret
for the same reason; logging out forgets the session and rotates again.
A user with a ``password_hash`` also has a fingerprint of it kept in the session: changing
the password ends every other session of that user.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bastion.auth.backends.session import CHECK_KEY, SESSION_KEY
from bastion.auth.identity import Identity
from bastion.auth.sessions.session import Session
from bastion.http.connection import HTTPConnection
from bastion.security.csrf import ACTIVE as CSRF_ACTIVE
from bastion.security.csrf import rotate_csrf_token

#: Where ``login`` keeps the device it was made from (user agent and IP address).
DEVICE_KEY = "_auth_device"


def login(connection: HTTPConnection, user: Any, *, subject: str | None = None) -> None:
    """Remember ``user`` in the session (by ``subject``, default ``str(user.id)``) under a
    new session id; data left by another user is dropped first."""
    session: Session = connection.session
    subject = subject if subject is not None else str(user.id)
    if session.get(SESSION_KEY) not in (None, subject):
        session.clear()
    session.rotate()
    session[SESSION_KEY] = subject
    if connection.scope.get(CSRF_ACTIVE) is not None:
        rotate_csrf_token(connection)
    check = password_check(user)
    if check is not None:
        session[CHECK_KEY] = check
    session[DEVICE_KEY] = device(connection)
    connection.user = user


def logout(connection: HTTPConnection) -> None:
    """Forget the session entirely (flash messages and all) and rotate its id."""
    session: Session = connection.session
    session.invalidate()
    connection.user = None


def device(connection: HTTPConnection) -> list[str]:
    """What the user's list of sessions shows of this one: the user agent and address."""
    client = connection.client
    return [connection.headers.get("user-agent", "")[:256], client[0][:64] if client else ""]


def password_check(user: Any) -> str | None:
    """A short digest of the user's password hash, or None for users without one."""
    password_hash = getattr(user, "password_hash", None)
    if not isinstance(password_hash, str):
        return None
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def still_logged_in(identity: Identity, user: Any) -> bool:
    """False for a session logged in before the user's password changed."""
    if identity.backend != "session":
        return True
    return identity.claims.get("check") == password_check(user)
