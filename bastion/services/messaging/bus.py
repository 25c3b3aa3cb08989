"""``MessageBus``: message handlers declared with ``@bus.message``, and the publisher API.

    bus = MessageBus()

    @bus.message("orders.created")
    async def on_order(order: Order) -> None: ...

    app = App(plugins=[MessagingPlugin(bus, backend="nats://127.0.0.1:4222")])

    await bus.publish("orders.created", Order(id=7))            # an event, fire-and-forget
    quote = await bus.request("prices.quote", ask, reply_type=Quote, timeout=2)

A process that only publishes declares no handlers; one bus per app, like its router.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

import msgspec

from bastion.exceptions import ConfigurationError
from bastion.services.messaging.errors import MessagingError, RequestFailed
from bastion.services.messaging.handler import Handler, check_subject

if TYPE_CHECKING:
    from bastion.services.messaging._observe import MessageMetrics
    from bastion.services.messaging.backend import MessagingBackend

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")

#: How a reply says it is an error, as NATS services do (``nats micro``): the status and a
#: one-line description in headers, the problem document (with ``errors``) as the body.
ERROR_CODE = "Nats-Service-Error-Code"
ERROR = "Nats-Service-Error"

_encode = msgspec.json.encode


class MessageBus:
    """Handlers by subject, and ``publish``/``request`` once ``MessagingPlugin`` connects it."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.backend: MessagingBackend | None = None
        self.metrics: MessageMetrics | None = None  # set by MessagingPlugin
        self.traced = False  # send the trace context in headers (set by MessagingPlugin)

    def __repr__(self) -> str:
        return f"<MessageBus {sorted(self.handlers)}>"

    def message(
        self, subject: str, *, timeout: float | None = None, max_attempts: int | None = None
    ) -> Callable[[F], F]:
        """Register the decorated function for ``subject``. ``timeout``: seconds one run may
        take (then it failed); ``max_attempts``: deliveries of an event before it is given
        up on (default: the plugin's). The function itself is returned unchanged."""
        try:
            check_subject(subject, f"@message({subject!r})")
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None

        def decorator(fn: F) -> F:
            handler = Handler(subject, fn, timeout=timeout, max_attempts=max_attempts)
            if subject in self.handlers:
                raise ConfigurationError(
                    f"{handler.where}: {self.handlers[subject].fn.__qualname__} already "
                    f"handles {subject!r}; one handler per subject (call the other from it)"
                )
            self.handlers[subject] = handler
            return fn

        return decorator

    def include(self, other: MessageBus) -> None:
        """Add the handlers of a feature module's own bus."""
        for subject, handler in other.handlers.items():
            if subject in self.handlers and self.handlers[subject] is not handler:
                raise ConfigurationError(
                    f"bus.include(): {subject!r} is handled by both "
                    f"{self.handlers[subject].fn.__qualname__} and {handler.fn.__qualname__}"
                )
            self.handlers[subject] = handler

    # -- publishing -------------------------------------------------------------------------
    def _connected(self) -> MessagingBackend:
        if self.backend is None:
            raise MessagingError(
                "this MessageBus is not connected: add MessagingPlugin(bus) to the App and "
                "publish while it runs (inside a request, a job, or `async with app.lifespan()`)"
            )
        return self.backend

    async def publish(
        self, subject: str, payload: Any, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send an event to every group that handles ``subject`` (one member of each handles
        it); returns once the backend has stored it. ``payload``: anything msgspec encodes.

        Inside a request or handler that uses the database session, the event is sent once
        that session commits, and never if it rolls back: nobody hears of an order that was
        not saved (a send that fails then is logged; the data is committed)."""
        check_subject(subject, "publish()")
        backend = self._connected()
        data, head = _encode(payload), self._headers(headers)
        session = _current_session()
        if session is not None:
            from bastion.db import on_commit

            async def send() -> None:
                await self._send(backend, subject, data, head)

            on_commit(session, send)
            return
        await self._send(backend, subject, data, head)

    def _headers(self, given: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(given or {})
        if self.traced:
            from bastion.services.messaging._observe import inject

            inject(headers)
        return headers

    async def _send(
        self, backend: MessagingBackend, subject: str, data: bytes, headers: dict[str, str]
    ) -> None:
        await backend.publish(subject, data, headers)
        if self.metrics is not None:
            self.metrics.published_one(subject)

    @overload
    async def request(
        self,
        subject: str,
        payload: Any,
        *,
        reply_type: type[R],
        timeout: float = 5.0,  # noqa: ASYNC109 (the caller's bound, passed to the broker)
        headers: Mapping[str, str] | None = None,
    ) -> R: ...

    @overload
    async def request(
        self,
        subject: str,
        payload: Any,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (the caller's bound, passed to the broker)
        headers: Mapping[str, str] | None = None,
    ) -> Any: ...

    async def request(
        self,
        subject: str,
        payload: Any,
        *,
        reply_type: Any = Any,
        timeout: float = 5.0,  # noqa: ASYNC109 (the caller's bound, passed to the broker)
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Ask the handler of ``subject`` and return its reply, decoded as ``reply_type``
        (plain JSON values without). Raises ``RequestFailed`` when the handler answered with
        an error, ``RequestTimeout`` after ``timeout`` seconds, ``NoResponders``."""
        check_subject(subject, "request()")
        if not (isinstance(timeout, int | float) and not isinstance(timeout, bool)) or not (
            timeout > 0
        ):
            raise ValueError(f"request(): timeout={timeout!r} must be positive seconds")
        reply = await self._connected().request(
            subject, _encode(payload), self._headers(headers), float(timeout)
        )
        code = reply.headers.get(ERROR_CODE)
        if code is not None:
            raise _failure(code, reply.headers.get(ERROR, ""), reply.data)
        try:
            return msgspec.json.decode(reply.data, type=reply_type)
        except msgspec.MsgspecError as exc:
            raise MessagingError(
                f"the reply to {subject!r} does not fit {reply_type}: {exc}"
            ) from None


def _current_session() -> Any:
    """The database session of the request (or handler) running, if the database battery is
    loaded and one was opened."""
    module = sys.modules.get("bastion.db")
    return module.current_session() if module is not None else None


def _failure(code: str, description: str, body: bytes) -> RequestFailed:
    try:
        problem = msgspec.json.decode(body)
    except msgspec.DecodeError:
        problem = None
    if not isinstance(problem, dict):
        problem = {}
    status = int(code) if code.isdigit() else 500
    detail = problem.pop("detail", None) or description
    errors = problem.pop("errors", None)
    for key in ("status", "title", "type"):
        problem.pop(key, None)
    return RequestFailed(
        status, str(detail), errors if isinstance(errors, list) else None, **problem
    )
