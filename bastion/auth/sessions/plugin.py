"""``SessionPlugin``: load the session before the handler, save it after.

Without a store, the whole session travels in a signed cookie (itsdangerous, HMAC-SHA256
keyed by ``settings.secret_key``); with one (memory, database, Redis), the cookie carries
only the signed session id. Either way the cookie is HttpOnly, SameSite=Lax, and Secure in
the prod profile (dev and test speak plain HTTP: ``http://localhost``, the test client's
``http://testserver``); sessions expire after ``idle_timeout`` without a request and
``absolute_timeout`` after they began, whatever the activity.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from itsdangerous import BadData, Signer, URLSafeTimedSerializer

from bastion.auth.sessions.session import Session
from bastion.auth.sessions.stores import SessionStore, UserIndex
from bastion.exceptions import ConfigurationError
from bastion.http.connection import HTTPConnection
from bastion.http.cookies import SameSite
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import Endpoint

if TYPE_CHECKING:
    from bastion.app import App

logger = logging.getLogger("bastion.auth")
#: Browsers drop cookies over 4096 bytes (name, value and attributes together).
MAX_COOKIE_BYTES = 4000
#: Longest cookie value accepted; anything longer is not ours and is ignored unread.
_MAX_INCOMING = 8192
#: Where ``login`` keeps the subject (``bastion.auth.backends.session.SESSION_KEY``): saving
#: a session logged in under a new id adds it to the user's index in the store.
SUBJECT_KEY = "_auth_subject"


class _Record(msgspec.Struct, array_like=True):
    id: str
    created: float
    seen: float
    data: dict[str, Any]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Record).decode


class SessionPlugin:
    """``App(plugins=[SessionPlugin()])`` (signed cookie) or ``SessionPlugin(RedisStore(url))``.

    ``secure=None`` means Secure in the prod profile only; ``secret_key=None`` takes
    ``settings.secret_key`` (a random per-process key in dev and test when unset).
    """

    def __init__(
        self,
        store: SessionStore | None = None,
        *,
        cookie_name: str = "session",
        idle_timeout: timedelta = timedelta(hours=2),
        absolute_timeout: timedelta = timedelta(days=7),
        secure: bool | None = None,
        same_site: SameSite = "lax",
        domain: str | None = None,
        path: str = "/",
        secret_key: str | None = None,
    ) -> None:
        if store is not None and not isinstance(store, SessionStore):
            raise ConfigurationError(
                f"SessionPlugin(store={store!r}): a store needs async open, close, load, "
                "save and delete methods (see bastion.auth.SessionStore)"
            )
        idle, absolute = idle_timeout.total_seconds(), absolute_timeout.total_seconds()
        if not 0 < idle <= absolute:
            raise ConfigurationError(
                "SessionPlugin: idle_timeout must be positive and at most absolute_timeout "
                f"(got {idle_timeout} and {absolute_timeout})"
            )
        self.store = store
        self.cookie_name = cookie_name
        self.idle = idle
        self.absolute = absolute
        # Activity is written back at most this often, not on every request.
        self.touch_after = min(60.0, idle / 10)
        self.secure = secure
        self.same_site: SameSite = same_site
        self.domain = domain
        self.path = path
        self.secret_key = secret_key
        self._cookie_serializer: URLSafeTimedSerializer | None = None
        self._id_signer: Signer | None = None

    # -- start-up ----------------------------------------------------------------------------
    def on_app_init(self, app: App[Any]) -> None:
        settings = app.settings
        secret = self.secret_key or settings.secret_key
        if not secret:
            if settings.profile == "prod":
                raise ConfigurationError(
                    "SessionPlugin needs a secret key in the prod profile: set "
                    "BASTION_SECRET_KEY (or pass SessionPlugin(secret_key=...))"
                )
            secret = secrets.token_urlsafe(32)
            if settings.profile == "dev":
                logger.warning(
                    "No secret key: sessions are signed with a random key and end when the "
                    "process stops; set BASTION_SECRET_KEY to keep them"
                )
        if self.secure is None:
            # A Secure cookie never comes back over http://testserver: a test would log in
            # and silently stay anonymous (Django, Rails and Flask test over plain HTTP too).
            self.secure = settings.profile == "prod"
        if self.same_site == "none" and not self.secure:
            raise ConfigurationError(
                "SessionPlugin(same_site='none') needs secure=True: browsers reject "
                "SameSite=None cookies that are not Secure"
            )
        digest = {"digest_method": hashlib.sha256}
        self._cookie_serializer = URLSafeTimedSerializer(
            secret, salt="bastion.session.cookie", signer_kwargs=digest
        )
        self._id_signer = Signer(secret, salt="bastion.session.id", digest_method=hashlib.sha256)
        app.add_middleware(self.middleware)
        if self.store is not None:
            app.lifespan_contexts.append(self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, app: App[Any]) -> AsyncIterator[None]:
        assert self.store is not None
        await self.store.open()
        try:
            yield
        finally:
            await self.store.close()

    # -- per request -------------------------------------------------------------------------
    async def middleware(self, request: Request, call_next: Endpoint) -> Response:
        """Load the session, run the request, save what changed."""
        session = await self.load(request)
        response = await call_next(request)
        if response.status_code < 500:  # a crashed request leaves the session as it was
            await self.save(session, response, self.cookie_name in request.cookies)
        return response

    async def load(self, connection: HTTPConnection) -> Session:
        """The connection's session (also for WebSockets, which the middleware does not see);
        anything wrong with the cookie means a new, empty session, never an adopted id."""
        if "session" in connection.scope:
            return connection.scope["session"]  # type: ignore[no-any-return]
        raw = connection.cookies.get(self.cookie_name)
        session = await self._read(raw) if raw and len(raw) <= _MAX_INCOMING else None
        if session is None:
            session = Session()
        connection.scope["session"] = session
        return session

    async def _read(self, raw: str) -> Session | None:
        now = time.time()
        if self.store is None:
            record = self._unsign_cookie(raw)
        else:
            record = await self._load_record(raw)
        if record is None:
            return None
        if now - record.created > self.absolute or now - record.seen > self.idle:
            if self.store is not None:
                await self.store.delete(_store_key(record.id))
            return None
        return Session(record.data, id=record.id, created=record.created, seen=record.seen)

    def _unsign_cookie(self, raw: str) -> _Record | None:
        assert self._cookie_serializer is not None
        try:
            payload = self._cookie_serializer.loads(raw, max_age=int(self.idle))
            return msgspec.convert(payload, _Record)
        except (BadData, msgspec.ValidationError, UnicodeError, ValueError):
            return None

    async def _load_record(self, raw: str) -> _Record | None:
        assert self._id_signer is not None and self.store is not None
        try:
            session_id = self._id_signer.unsign(raw).decode("ascii")
        except (BadData, UnicodeError):
            return None
        blob = await self.store.load(_store_key(session_id))
        if blob is None:
            return None
        try:
            record = _decode(blob)
        except msgspec.DecodeError:
            return None
        return record if secrets.compare_digest(record.id, session_id) else None

    async def save(self, session: Session, response: Response, had_cookie: bool) -> None:
        """Write the session back when it changed, was rotated, or activity is due."""
        now = time.time()
        store = self.store
        if session.replaced is not None and store is not None:
            await store.delete(_store_key(session.replaced))
        if not session:
            if session.stored and store is not None:
                await store.delete(_store_key(session.id))
            if had_cookie:
                self._delete_cookie(response)
            return
        if not (session.modified or now - session.seen > self.touch_after):
            return
        if not session.stored or session.replaced is not None:
            session.created = now
        session.seen = now
        remaining = self.absolute - (now - session.created)
        ttl = max(1, int(min(self.idle, remaining)))
        record = _Record(session.id, session.created, session.seen, session.data)
        if store is None:
            assert self._cookie_serializer is not None
            value = self._cookie_serializer.dumps(msgspec.to_builtins(record))
            if len(value) > MAX_COOKIE_BYTES:
                raise RuntimeError(
                    f"The session is {len(value)} bytes signed, more than a cookie can hold "
                    f"({MAX_COOKIE_BYTES}); keep less in it or use a server-side store "
                    "(SessionPlugin(RedisStore(...)) or DatabaseStore)"
                )
        else:
            assert self._id_signer is not None
            key = _store_key(session.id)
            await store.save(key, _encode(record), ttl)
            subject = session.get(SUBJECT_KEY)
            fresh = not session.stored or session.replaced is not None
            if fresh and isinstance(subject, str) and isinstance(store, UserIndex):
                await store.index(subject, key, int(self.absolute))
            value = self._id_signer.sign(session.id).decode("ascii")
        self._set_cookie(response, value, ttl)

    # -- a user's sessions (account_sessions) ----------------------------------------------------
    def indexed_store(self) -> UserIndex | None:
        """The store, when it can find a user's sessions (every server-side store here)."""
        return self.store if isinstance(self.store, UserIndex) else None

    async def sessions_of(self, subject: str) -> list[tuple[str, Session]]:
        """The live sessions logged in as ``subject``, by store key (the sessions' handle:
        it cannot be turned back into a cookie)."""
        store = self.indexed_store()
        if store is None:
            return []
        found, now = [], time.time()
        for key, blob in await store.records_of(subject):
            record = _decode_or_none(blob)
            if record is None or record.data.get(SUBJECT_KEY) != subject:
                continue  # logged out, or another user's since
            if now - record.created > self.absolute or now - record.seen > self.idle:
                continue
            session = Session(record.data, id=record.id, created=record.created, seen=record.seen)
            found.append((key, session))
        return found

    async def end(self, subject: str, keys: list[str]) -> None:
        """End these sessions of ``subject`` in every process sharing the store."""
        store = self.indexed_store()
        if store is not None and keys:
            await store.end(subject, keys)

    def _set_cookie(self, response: Response, value: str, max_age: int) -> None:
        response.set_cookie(
            self.cookie_name,
            value,
            max_age=max_age,
            path=self.path,
            domain=self.domain,
            secure=bool(self.secure),
            httponly=True,
            samesite=self.same_site,
        )

    def _delete_cookie(self, response: Response) -> None:
        response.set_cookie(
            self.cookie_name,
            "",
            max_age=0,
            path=self.path,
            domain=self.domain,
            secure=bool(self.secure),
            httponly=True,
            samesite=self.same_site,
        )


def _decode_or_none(blob: bytes | None) -> _Record | None:
    if blob is None:
        return None
    try:
        return _decode(blob)
    except msgspec.DecodeError:
        return None


def store_key(session: Session) -> str:
    """The key the stores keep ``session`` under."""
    return _store_key(session.id)


def _store_key(session_id: str) -> str:
    """Stores index sessions by a hash of the id, never the id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()
