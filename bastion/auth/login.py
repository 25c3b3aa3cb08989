"""``login`` and ``logout`` for session authentication.

Logging in rotates the session id, so an id an attacker planted before the login (session
fixation) is worth nothing after it; logging out forgets the session and rotates again.
"""

from __future__ import annotations

from typing import Any

from bastion.auth.backends.session import SESSION_KEY
from bastion.auth.sessions.session import Session
from bastion.http.connection import HTTPConnection


def login(connection: HTTPConnection, user: Any, *, subject: str | None = None) -> None:
    """Remember ``user`` in the session (by ``subject``, default ``str(user.id)``) under a
    new session id; data left by another user is dropped first."""
    session: Session = connection.session
    subject = subject if subject is not None else str(user.id)
    if session.get(SESSION_KEY) not in (None, subject):
        session.clear()
    session.rotate()
    session[SESSION_KEY] = subject
    connection.user = user


def logout(connection: HTTPConnection) -> None:
    """Forget the session entirely (flash messages and all) and rotate its id."""
    session: Session = connection.session
    session.invalidate()
    connection.user = None
