"""A user's sessions and devices: list them, end one, end all the others.

    App(plugins=[database, SessionPlugin(RedisStore(url)), AuthPlugin(SessionAuth(), ...),
                 SecurityPlugin(), AuthRoutes(), AccountSessionRoutes()])

Ending a session deletes it from the store, so every process sharing the store (one Redis,
one database) refuses its cookie from the next request on. A password change or reset
through ``AuthRoutes`` ends every other session of the user the same way (the
password-fingerprint check in ``login`` stays, for cookie sessions no store can list).
"""

from __future__ import annotations

import datetime
import sys
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from bastion.auth._templates import AppTemplates, auth_templates, needs_csrf
from bastion.auth.guards import CurrentUser
from bastion.auth.login import DEVICE_KEY
from bastion.auth.plugin import Authentication, AuthPlugin
from bastion.auth.sessions.plugin import SessionPlugin, store_key
from bastion.exceptions import ConfigurationError, NotFound
from bastion.http.connection import HTTPConnection
from bastion.http.request import Request
from bastion.http.response import RedirectResponse, Response
from bastion.params.markers import Path
from bastion.routing.router import Router

if TYPE_CHECKING:
    from bastion.app import App

SessionId = Annotated[str, Path(pattern="^[0-9a-f]{64}$")]


class DeviceSession(msgspec.Struct):
    """One signed-in session: ``id`` is its handle for ending it (not a usable cookie)."""

    id: str
    created: datetime.datetime
    last_seen: datetime.datetime
    user_agent: str
    ip: str
    current: bool


class AccountSessionRoutes:
    """``GET {prefix}/sessions``, ``DELETE {prefix}/sessions/{id}`` and ``DELETE
    {prefix}/sessions`` (every session but this one), and the page ``page_path`` whose
    forms post to ``{prefix}/sessions/{id}/end`` and ``{prefix}/sessions/end-others``
    (template ``auth/sessions.html``, replaced by an app template of that name).
    ``page_path=None`` turns the page off."""

    def __init__(
        self,
        *,
        prefix: str = "/auth",
        page_path: str | None = "/account/sessions",
        templates: AppTemplates = None,
    ) -> None:
        self.prefix = prefix
        self.page_path = page_path
        self.templates = auth_templates(templates)
        self.sessions: SessionPlugin | None = None

    def on_app_init(self, app: App[Any]) -> None:
        sessions = next((p for p in app.plugins if isinstance(p, SessionPlugin)), None)
        if sessions is None or sessions.indexed_store() is None:
            raise ConfigurationError(
                "AccountSessionRoutes lists sessions kept on the server: use "
                "SessionPlugin(RedisStore(url)), SessionPlugin(DatabaseStore(database)) or "
                "SessionPlugin(MemoryStore()) (signed-cookie sessions cannot be listed or ended)"
            )
        if not any(isinstance(p, AuthPlugin) for p in app.plugins):
            raise ConfigurationError(
                "AccountSessionRoutes needs to know who is asking: add "
                "AuthPlugin(SessionAuth(), load_user=...)"
            )
        if self.page_path is not None:
            needs_csrf(app, "AccountSessionRoutes")
        self.sessions = sessions
        module = sys.modules.get("bastion.auth.routes")
        for plugin in app.plugins:
            if module is not None and isinstance(plugin, module.AuthRoutes):
                plugin.password_changed.append(self.end_others_of)
        app.include(self.router())
        if self.page_path is not None:
            app.include(self.page())

    # -- what the routes do ------------------------------------------------------------------
    async def list(self, connection: HTTPConnection, subject: str) -> list[DeviceSession]:
        """``subject``'s live sessions, the most recently seen first."""
        assert self.sessions is not None
        current = _current_key(connection)
        found = []
        for key, session in await self.sessions.sessions_of(subject):
            agent, ip = _device(session.get(DEVICE_KEY))
            found.append(
                DeviceSession(
                    key, _time(session.created), _time(session.seen), agent, ip, key == current
                )
            )
        return sorted(found, key=lambda s: (not s.current, -s.last_seen.timestamp()))

    async def end(self, subject: str, session_id: str) -> None:
        """End one of ``subject``'s sessions, or a 404 when it is not theirs (or over)."""
        assert self.sessions is not None
        keys = [key for key, _ in await self.sessions.sessions_of(subject)]
        if session_id not in keys:
            raise NotFound("No such session of yours; list them at GET /sessions")
        await self.sessions.end(subject, [session_id])

    async def end_others(self, connection: HTTPConnection, subject: str) -> int:
        """End every session of ``subject`` but the one ``connection`` uses; how many."""
        assert self.sessions is not None
        current = _current_key(connection)
        keys = [k for k, _ in await self.sessions.sessions_of(subject) if k != current]
        await self.sessions.end(subject, keys)
        return len(keys)

    async def end_others_of(self, connection: HTTPConnection, user: Any) -> None:
        """``AuthRoutes``' password-changed hook (a database store deletes them in the
        request's transaction: with the new password)."""
        await self.end_others(connection, str(user.id))

    # -- routes ------------------------------------------------------------------------------
    def router(self) -> Router:
        router = Router(self.prefix, tags=["auth"])
        gone = {404: "Not a live session of this user"}

        @router.get("/sessions")
        async def list_sessions(
            request: Request, user: CurrentUser, auth: Authentication
        ) -> list[DeviceSession]:
            """This user's signed-in sessions and devices (``current`` marks this one)."""
            return await self.list(request, _subject(auth))

        @router.delete("/sessions/{session_id}", status_code=204, responses=gone)
        async def end_session(
            session_id: SessionId, user: CurrentUser, auth: Authentication
        ) -> None:
            """Sign one session out, on every server."""
            await self.end(_subject(auth), session_id)

        @router.delete("/sessions", status_code=204)
        async def end_other_sessions(
            request: Request, user: CurrentUser, auth: Authentication
        ) -> None:
            """Sign out every session of this user but this one."""
            await self.end_others(request, _subject(auth))

        if self.page_path is None:
            return router
        page_path = self.page_path

        @router.post("/sessions/{session_id}/end", status_code=303, responses=gone)
        async def end_session_form(
            session_id: SessionId, user: CurrentUser, auth: Authentication
        ) -> Response:
            """The page's form: sign one session out, back to the page."""
            await self.end(_subject(auth), session_id)
            return RedirectResponse(page_path, 303)

        @router.post("/sessions/end-others", status_code=303)
        async def end_others_form(
            request: Request, user: CurrentUser, auth: Authentication
        ) -> Response:
            """The page's form: sign every other session out, back to the page."""
            await self.end_others(request, _subject(auth))
            return RedirectResponse(page_path, 303)

        return router

    def page(self) -> Router:
        """The page listing the sessions, with a form to end each."""
        assert self.page_path is not None
        pages, render = Router(tags=["auth"]), self.templates.render

        @pages.get(self.page_path, include_in_schema=False)
        async def sessions_page(
            request: Request, user: CurrentUser, auth: Authentication
        ) -> Response:
            context = {
                "sessions": await self.list(request, _subject(auth)),
                "prefix": self.prefix,
            }
            return render(request, "auth/sessions.html", context)

        return pages


def _subject(auth: Authentication) -> str:
    assert auth.identity is not None  # CurrentUser refused anonymous requests
    return auth.identity.subject


def _current_key(connection: HTTPConnection) -> str | None:
    session = connection.scope.get("session")
    return store_key(session) if session is not None and session.stored else None


def _device(value: Any) -> tuple[str, str]:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    return "", ""


def _time(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
