"""Response caching: ``CachePolicy`` on a route or router, served from a named cache.

    policy = CachePolicy(ttl=60, vary=("accept-language",), tags=("articles",))

    @app.get("/articles", middleware=[policy])

A policy is route middleware, so it goes wherever middleware goes (route, router,
controller) and the core knows nothing of caching. ``CachePlugin`` finds the policies when
the app starts and wraps each GET route that has one (the innermost policy wins); the policy
itself only passes requests on, and refuses to run in an app without ``CachePlugin``.

What is cached: answers to GET and HEAD whose body is in memory, with a status in
``statuses``, to requests without ``Authorization`` or a session cookie, that do not say
``Cache-Control: no-store``, and that neither set a cookie nor say ``no-store``, ``no-cache``
or ``private`` themselves; with ``key=`` the policy keys private requests (and responses
that set cookies) itself. The key is the path, the raw query string, the ``vary`` headers'
values and ``key(request)``. Stored answers carry ``Cache-Control: max-age=<ttl>`` (unless
the handler set one), a weak ``ETag`` (the one ``ConditionalGet`` would compute, so it can
answer 304s) and ``Vary``; hits add ``Age``. Concurrent misses for one key run the handler
once in each process. Hits for static paths are answered before a ``Request`` exists
(``early``, through ``App.answer_early``) when the app lets them: on the memory backend
without a coroutine, on shared backends after their one round trip.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.cache.backend import BackendUnavailable
from bastion.cache.memory import MemoryBackend
from bastion.exceptions import ConfigurationError
from bastion.http.preconditions import body_etag
from bastion.http.request import Request
from bastion.http.response import SENT_BY_MESSAGES, Response
from bastion.routing.route import Route, path_param_names
from bastion.types import CallNext, EarlyMessages, Endpoint, Message, Scope

if TYPE_CHECKING:
    from bastion.app import App
    from bastion.cache.cache import Cache
    from bastion.routing._endpoint import CompiledRoute

_READ = ("GET", "HEAD")
#: Left in the scope by ``early`` when a shared backend was asked and had no answer (True) or
#: was down (False): ``serve`` goes on from there instead of asking again.
_ASKED = "bastion.cache.asked"
_PLACEHOLDER = re.compile(r"{([^{}]*)}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")


class _Stored(msgspec.Struct, array_like=True):
    """A stored answer, as the backend holds it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored: float


class _Hit:
    """A stored answer decoded, once per stored value (kept beside it on the memory backend,
    as the last one read on the others): what ``serve`` answers, and the messages ``early``
    sends (``Age`` still to add to their headers)."""

    __slots__ = (
        "age_header",
        "age_until",
        "body",
        "head",
        "headers",
        "origin",
        "sent_body",
        "status",
    )

    def __init__(self, stored: _Stored) -> None:
        self.status = stored.status
        self.headers = stored.headers
        self.body = stored.body
        answer = _new(Response)
        answer.status_code, answer.body, answer.raw_headers = self.status, self.body, self.headers
        start, body = answer.messages("GET")
        self.head = start["headers"]
        self.sent_body = body["body"]
        #: When it was stored on the monotonic clock (the one hits read), and until when
        #: ``age_header`` is right.
        self.origin = _monotonic() - max(0.0, _time() - stored.stored)
        self.age_until = 0.0
        self.age_header = (b"age", b"0")

    def age(self, now: float) -> tuple[bytes, bytes]:
        """The ``Age`` header at ``now`` (``time.monotonic()``), worked out once a second."""
        if now >= self.age_until:
            age = int(now - self.origin)
            self.age_header = (b"age", str(age).encode())
            self.age_until = self.origin + age + 1
        return self.age_header


_encode = msgspec.msgpack.Encoder().encode
_decode_stored = msgspec.msgpack.Decoder(_Stored).decode


def _decode(data: bytes) -> _Hit:
    return _Hit(_decode_stored(data))


class CachePolicy:
    """How a route's answers are cached.

    ``ttl``: seconds an answer is kept. ``vary``: request headers that select a variant.
    ``tags``: tags stored answers carry (``"article:{slug}"`` takes the path parameter), for
    ``cache.invalidate_tags``. ``cache``: the name of the cache to use. ``key``: a function
    of the request returning a string that joins the key (e.g. the user's id), or None to not
    cache this request; with it, requests with credentials and answers that set cookies are
    cached under that key. ``private_cookies``: cookies that mark a request as a user's
    (besides ``SessionPlugin``'s). ``max_age``: the ``Cache-Control: max-age`` sent (default
    ``ttl``; 0 sends ``no-cache``, so browsers revalidate with the ETag).
    """

    def __init__(
        self,
        ttl: float,
        *,
        vary: Sequence[str] = (),
        tags: Sequence[str] = (),
        cache: str = "default",
        key: Callable[[Request], str | None] | None = None,
        private_cookies: Sequence[str] = ("session", "sessionid"),
        statuses: Sequence[int] = (200,),
        max_age: int | None = None,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ConfigurationError(f"CachePolicy(ttl={ttl!r}): give the seconds to keep, > 0")
        if isinstance(vary, str) or isinstance(tags, str) or isinstance(private_cookies, str):
            raise ConfigurationError(
                "CachePolicy: vary, tags and private_cookies are sequences of strings; write "
                "vary=('accept-language',), with the trailing comma"
            )
        for header in vary:
            if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header.lower()):
                raise ConfigurationError(f"CachePolicy(vary=...): {header!r} is not a header name")
        if key is not None and not callable(key):
            raise ConfigurationError(f"CachePolicy(key={key!r}): give a function of the request")
        if max_age is not None and (isinstance(max_age, bool) or max_age < 0):
            raise ConfigurationError(f"CachePolicy(max_age={max_age!r}): give seconds >= 0")
        self.ttl = float(ttl)
        self.vary = tuple(h.lower() for h in vary)
        self.tags = tuple(tags)
        self.cache = cache
        self.key = key
        self.private_cookies = tuple(private_cookies)
        self.statuses = frozenset(statuses)
        self.max_age = max_age
        self._apps: set[int] = set()

    def __repr__(self) -> str:
        return f"CachePolicy(ttl={self.ttl:g}, vary={self.vary!r}, tags={self.tags!r})"

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        if id(request.scope.get("app")) not in self._apps:
            raise ConfigurationError(
                "CachePolicy is on a route of an app without CachePlugin: add "
                "App(plugins=[CachePlugin()]) so its answers are cached"
            )
        return await call_next(request)


def cached_endpoint(compiled: CompiledRoute, app: App[Any], caches: Any) -> Endpoint:
    """The route's endpoint behind its response cache, if a ``CachePolicy`` applies."""
    route = compiled.route
    policies = [m for m in route.options.get("middleware", ()) if isinstance(m, CachePolicy)]
    if not policies:
        return compiled.endpoint
    for policy in policies:
        policy._apps.add(id(app))
    if not isinstance(route, Route) or "GET" not in route.methods:
        return compiled.endpoint  # a router-wide policy leaves writes alone
    policy = policies[-1]
    where = f"route GET {route.path}"
    if policy.cache not in caches:
        raise ConfigurationError(
            f"{where}: CachePolicy(cache={policy.cache!r}) names no cache; CachePlugin has "
            f"{', '.join(sorted(caches))} (add it with CachePlugin(caches={{...}}))"
        )
    params = set(path_param_names(route.path))
    for tag in policy.tags:
        unknown = [p for p in _PLACEHOLDER.findall(tag) if p not in params]
        if unknown or not isinstance(tag, str) or not tag:
            raise ConfigurationError(
                f"{where}: CachePolicy tag {tag!r} names {', '.join(map(repr, unknown))}, not a "
                f"path parameter of the route ({', '.join(sorted(params)) or 'it has none'})"
            )
    cookies = {*policy.private_cookies, *_session_cookies(app)}
    cache = _ResponseCache(policy, caches[policy.cache], compiled.endpoint, cookies)
    endpoint = cache.serve
    if policy.key is None:
        app.answer_early(endpoint, cache.early)
    return endpoint


def _session_cookies(app: App[Any]) -> list[str]:
    module = sys.modules.get("bastion.auth.sessions.plugin")
    if module is None:
        return []
    return [p.cookie_name for p in app.plugins if isinstance(p, module.SessionPlugin)]


class _ResponseCache:
    """One route's response cache: everything per request was decided above."""

    def __init__(
        self, policy: CachePolicy, cache: Cache, endpoint: Endpoint, cookies: set[str]
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy
        space = cache.namespace("responses")
        self.prefix = space.prefix
        self.core = space._core
        self.backend = space.backend
        # The memory backend is read without a coroutine, and keeps each answer decoded beside
        # its bytes. Other backends: the last answer decoded is kept, so the same bytes again
        # need no decoding.
        memory = isinstance(self.backend, MemoryBackend)
        self.lookup = self.backend.lookup_decoded if memory else None  # type: ignore[attr-defined]
        self.last: tuple[bytes, _Hit] | None = None
        # Request headers that matter, by name: 0 authorization, 1 cookie, 2 cache-control,
        # 3 + i the i-th varied header. One dict lookup per request header.
        self.watch = {b"authorization": 0, b"cookie": 1, b"cache-control": 2}
        for i, name in enumerate(policy.vary):
            self.watch.setdefault(name.encode(), 3 + i)
        self.varies = len(policy.vary)
        self.no_vary = "\n" * self.varies  # the key's varied part when none of them was sent
        self.path_keys: dict[str, str] = {}  # early's keys for requests without a query
        self.cookies = [name.encode() for name in cookies]
        self.key = policy.key
        self.ttl = policy.ttl
        dynamic = [t for t in policy.tags if "{" in t]
        self.static_tags = cache.tag_keys([t for t in policy.tags if "{" not in t])
        self.dynamic_tags = dynamic
        self.tag_keys = cache.tag_keys
        max_age = int(policy.ttl) if policy.max_age is None else policy.max_age
        control = f"max-age={max_age}" if max_age else "no-cache"
        self.cache_control = (f"private, {control}" if policy.key else control).encode()
        self.vary_header = ", ".join(policy.vary).encode() if policy.vary else None

    def early(self, scope: Scope) -> EarlyMessages | Awaitable[EarlyMessages]:
        """A hit's two messages from the scope of a GET or HEAD, before a ``Request`` exists
        (``App.answer_early``); None sends the request the usual way, through ``serve``: a
        miss, and any request with a header that ``serve`` looks at."""
        watch = self.watch
        for name, _ in scope["headers"]:
            if name in watch:
                return None
        path = scope["path"]
        query = scope["query_string"]
        if query:  # not hashed when long or not ASCII, as serve's keys are: such a key misses
            key = self.prefix + path + "?" + query.decode("latin-1") + self.no_vary
        else:  # the app asks on its static paths only: few keys, made once
            key = self.path_keys.get(path) or self.path_keys.setdefault(
                path, self.prefix + path + self.no_vary
            )
        lookup = self.lookup
        if lookup is None:
            if len(key) - len(self.prefix) > 200 or not key.isascii():
                return None  # serve hashes such keys
            return self._early_shared(scope, key)
        now = _monotonic()
        try:
            hit = lookup(key, _decode, now)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if hit is None:
            return None
        age = hit.age_header if now < hit.age_until else hit.age(now)
        return (  # _messages, written out: the call would cost 2 % of a hit
            {"type": "http.response.start", "status": hit.status, "headers": [*hit.head, age]},
            {
                "type": "http.response.body",
                "body": hit.sent_body if scope["method"] == "GET" else b"",
            },
        )

    async def _early_shared(self, scope: Scope, key: str) -> tuple[Message, Message] | None:
        """``early`` on a shared backend: the round trip, then a hit's messages; a miss or an
        outage is left in the scope, so that ``serve`` does not ask again."""
        try:
            data = await self.backend.get(key)
        except BackendUnavailable as exc:
            self.core.down("get", exc)
            scope[_ASKED] = False
            return None
        except Exception:  # not an outage: serve asks again, where the app's handlers answer
            return None
        hit = None if data is None else self._decoded(data)
        if hit is None:
            scope[_ASKED] = True
            return None
        return _messages(hit, scope["method"], _monotonic())

    async def serve(self, request: Request) -> Response:
        scope = request.scope
        if scope["method"] not in _READ:
            return await self.endpoint(request)
        private = False
        watch = self.watch
        varied: list[bytes] | None = None
        for name, value in scope["headers"]:
            if name not in watch:
                continue
            code = watch[name]
            if code == 0:
                private = True
            elif code == 1:
                private = private or self._has_private_cookie(value)
            elif code == 2:
                if b"no-store" in value.lower():
                    return await self.endpoint(request)
            else:
                if varied is None:
                    varied = [b""] * self.varies
                i = code - 3
                varied[i] = value if not varied[i] else varied[i] + b", " + value
        query = scope["query_string"]
        key = scope["path"] + "?" + query.decode("latin-1") if query else scope["path"]
        if self.varies:
            key += "\n" + "\n".join(v.decode("latin-1") for v in varied or [b""] * self.varies)
        if self.key is not None:
            extra = self.key(request)
            if extra is None:
                return await self.endpoint(request)
            key += "\n@" + extra
        elif private:
            return await self.endpoint(request)
        if len(key) > 200 or not key.isascii():
            key = "#" + hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=20).hexdigest()
        full = self.prefix + key
        lookup = self.lookup
        asked = None if lookup is not None else scope.pop(_ASKED, None)  # by early, already
        if asked is False:
            return await self.endpoint(request)
        try:
            if lookup is not None:
                try:
                    stored = lookup(full, _decode, _monotonic())
                except (msgspec.DecodeError, msgspec.ValidationError):
                    stored = None
            else:
                data = None if asked else await self.backend.get(full)
                stored = self._decoded(data) if data is not None else None
        except BackendUnavailable as exc:
            self.core.down("get", exc)
            return await self.endpoint(request)
        if stored is None:
            return await self._miss(request, full)
        return _answer(stored)

    def _has_private_cookie(self, header: bytes) -> bool:
        if not any(name + b"=" in header for name in self.cookies):
            return False
        names = {part.split(b"=", 1)[0].strip() for part in header.split(b";")}
        return any(name in names for name in self.cookies)

    def _decoded(self, data: bytes) -> _Hit | None:
        """A stored answer from a shared backend (None if it does not decode)."""
        last = self.last
        if last is not None and last[0] == data:
            return last[1]
        try:
            stored = _decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        self.last = (data, stored)
        return stored

    async def _miss(self, request: Request, full: str) -> Response:
        """Run the handler, once per key at a time in this process, and store its answer."""
        flights = self.core.flights
        flight = flights.get(full)
        if flight is not None:
            try:
                data = await asyncio.shield(flight)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not flight.cancelled() or (task is not None and task.cancelling()):
                    raise
                data = None
            stored = self._decoded(data) if data is not None else None
            return _answer(stored) if stored is not None else await self.endpoint(request)
        flight = asyncio.get_running_loop().create_future()
        flights[full] = flight
        data = None
        try:
            response = await self.endpoint(request)
            data = await self._store(request, full, response)
        finally:
            if flights.get(full) is flight:
                del flights[full]
            flight.set_result(data)  # None: the others run the handler themselves
        return response

    async def _store(self, request: Request, full: str, response: Response) -> bytes | None:
        if (
            type(response) not in SENT_BY_MESSAGES
            or response.status_code not in self.policy.statuses
        ):
            return None
        headers = response.raw_headers
        control = etag = vary = None
        cookie = False
        for name, value in headers:
            if name == b"cache-control":
                control = value.lower()
            elif name == b"set-cookie":
                cookie = True
            elif name == b"etag":
                etag = value
            elif name == b"vary":
                vary = value
        if control is not None and any(
            word in control for word in (b"no-store", b"no-cache", b"private")
        ):
            return None
        if (cookie and self.key is None) or (vary is not None and vary.strip() == b"*"):
            return None
        if control is None:
            headers.append((b"cache-control", self.cache_control))
        if etag is None:
            headers.append((b"etag", body_etag(response.body, weak=True).encode()))
        if vary is None and self.vary_header is not None:
            headers.append((b"vary", self.vary_header))
        data = _encode(_Stored(response.status_code, list(headers), response.body, time.time()))
        tags = self.static_tags
        if self.dynamic_tags:
            params = request.path_params
            tags = [*tags, *self.tag_keys([t.format_map(params) for t in self.dynamic_tags])]
        try:
            await self.backend.set(full, data, self.ttl, tags)
        except BackendUnavailable as exc:
            self.core.down("set", exc)
        return data


def _messages(hit: _Hit, method: str, now: float) -> tuple[Message, Message]:
    """A hit's two ASGI messages, for ``early``: the head kept ready, with its ``Age``."""
    return (
        {"type": "http.response.start", "status": hit.status, "headers": [*hit.head, hit.age(now)]},
        {"type": "http.response.body", "body": hit.sent_body if method == "GET" else b""},
    )


def _answer(stored: _Hit) -> Response:
    """A hit: the stored answer with its ``Age``, as a plain ``Response`` (so ``GZip`` and
    ``ConditionalGet`` treat it as any in-memory body). Its header list is new: middleware may
    add to it, never to the stored one."""
    response = Response.__new__(Response)
    response.status_code = stored.status
    response.body = stored.body
    response.raw_headers = [*stored.headers, stored.age(_monotonic())]
    return response


_time = time.time
_monotonic = time.monotonic
_new = Response.__new__
