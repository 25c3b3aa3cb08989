"""The session a request sees (``request.session``) and flash messages.

A session is a dict of JSON values plus what the plugin needs to expire and rotate it. Its
id is random and never chosen by the client: ``rotate()`` replaces it (call it whenever
privileges change, ``login`` does), and the plugin deletes the old record when saving.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from bastion.http.connection import HTTPConnection

_FLASHES = "_flashes"


def new_session_id() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class Session(MutableMapping[str, Any]):
    """``request.session["cart"] = [1, 2]``; values must be JSON-encodable."""

    __slots__ = ("_data", "created", "id", "modified", "replaced", "seen", "stored")

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        created: float = 0.0,
        seen: float = 0.0,
    ) -> None:
        self._data = data if data is not None else {}
        #: The session id (the store key is derived from it); new sessions get a random one.
        self.id = id or new_session_id()
        self.created = created
        self.seen = seen
        #: True once changed in this request, so the plugin saves it.
        self.modified = False
        #: Loaded from the store (or a valid cookie), as opposed to new in this request.
        self.stored = id is not None
        #: The stored id that ``rotate()`` replaced: its record is deleted when saving.
        self.replaced: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        if self._data:
            self._data.clear()
            self.modified = True

    def rotate(self) -> None:
        """Give the session a new id, keeping its data (defeats session fixation)."""
        if self.stored and self.replaced is None:
            self.replaced = self.id
        self.id = new_session_id()
        self.modified = True

    def invalidate(self) -> None:
        """Forget everything and start over under a new id (logging out)."""
        self.clear()
        self.rotate()

    @property
    def data(self) -> dict[str, Any]:
        return self._data

    def __repr__(self) -> str:
        return f"<Session {len(self._data)} keys>"


class Flash(NamedTuple):
    category: str
    message: str


def flash(connection: HTTPConnection, message: str, category: str = "info") -> None:
    """Keep a message for the next page the visitor sees (after a redirect, typically)."""
    session: Session = connection.session
    session[_FLASHES] = [*session.get(_FLASHES, ()), [category, message]]


def flashed(connection: HTTPConnection) -> list[Flash]:
    """The waiting messages, oldest first; reading removes them."""
    session: Session = connection.session
    if _FLASHES not in session:
        return []
    return [Flash(str(c), str(m)) for c, m in session.pop(_FLASHES)]
