"""Session login as an authentication backend: the session remembers the user's id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.auth.identity import Identity
from bastion.auth.sessions.plugin import SessionPlugin
from bastion.exceptions import ConfigurationError

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.http.connection import HTTPConnection

#: Where ``login`` keeps the subject in the session, and the password-hash fingerprint.
SESSION_KEY = "_auth_subject"
CHECK_KEY = "_auth_check"


class SessionAuth:
    """Authenticates requests whose session was logged in with ``login(request, user)``.
    Needs ``SessionPlugin`` in the same app."""

    name = "session"

    def __init__(self) -> None:
        self._sessions: SessionPlugin | None = None

    def setup(self, app: App[Any]) -> None:
        found = [p for p in app.plugins if isinstance(p, SessionPlugin)]
        if not found:
            raise ConfigurationError(
                "SessionAuth needs sessions: add SessionPlugin() to App(plugins=[...]) "
                "before the AuthPlugin"
            )
        self._sessions = found[0]

    async def authenticate(self, connection: HTTPConnection) -> Identity | None:
        assert self._sessions is not None
        session = await self._sessions.load(connection)
        subject = session.get(SESSION_KEY)
        if not isinstance(subject, str):
            return None
        return Identity(subject, self.name, claims={"check": session.get(CHECK_KEY)})

    def challenge(self) -> str:
        return 'Cookie realm="session"'

    def scheme(self) -> dict[str, Any]:
        name = self._sessions.cookie_name if self._sessions else "session"
        return {"type": "apiKey", "in": "cookie", "name": name}
