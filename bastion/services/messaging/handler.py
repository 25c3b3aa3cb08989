"""``Handler``: a function registered for a subject, and its call compiled once at start-up.

    @bus.message("orders.created")
    async def on_order(order: Order, db: AsyncSession) -> None: ...   # an event handler

    @bus.message("prices.quote")
    async def quote(ask: QuoteAsk) -> Quote: ...                      # answers requests

The return annotation says which: ``-> None`` handles published events, any other type
answers requests with a value of that type. Of the parameters, those a dependency provides
(``Depends``, a provider such as ``AsyncSession``, the ``Request``) are injected exactly as
into an HTTP handler; one annotated ``Message`` receives the envelope (subject, headers,
attempt); the one left, if any, is the payload, decoded and validated by msgspec.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.di.container import provider_for
from bastion.di.depends import Depends
from bastion.exceptions import ConfigurationError, MalformedBody, ValidationError
from bastion.http.request import Request
from bastion.params import _types as t
from bastion.params._errors import from_msgspec
from bastion.params._plan import call_planned, compile_plan, injected_only, signature_of

if TYPE_CHECKING:
    from bastion.di.container import Container
    from bastion.params._plan import Plan

#: Dot-separated tokens of letters, digits, ``_`` and ``-``: a NATS subject without
#: wildcards, and a safe part of a Redis key.
SUBJECT = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def check_subject(subject: object, where: str) -> str:
    """``subject``, or a ``ValueError`` that says what a subject may be."""
    if not isinstance(subject, str) or len(subject) > 200 or not SUBJECT.fullmatch(subject):
        raise ValueError(
            f"{where}: subject {subject!r} must be dot-separated words of letters, digits, "
            "'_' and '-' (such as 'orders.created'), at most 200 characters, no wildcards"
        )
    return subject


@dataclass(frozen=True, slots=True)
class Message:
    """The envelope of the message being handled; declare a parameter ``msg: Message``."""

    subject: str
    headers: Mapping[str, str]
    #: 1 on the first delivery; more when an earlier one failed or its consumer died.
    attempt: int
    id: str
    is_request: bool


class Handler:
    """One registered function: its subject, kind and options (compiled by ``compile``)."""

    def __init__(
        self,
        subject: str,
        fn: Callable[..., Any],
        *,
        timeout: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        where = f"@message({subject!r}) {getattr(fn, '__qualname__', fn)}"
        try:
            check_subject(subject, where)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if not callable(fn):
            raise ConfigurationError(f"{where}: decorates a function, got {fn!r}")
        if timeout is not None and not (_number(timeout) and timeout > 0):
            raise ConfigurationError(f"{where}: timeout={timeout!r} must be positive seconds")
        if max_attempts is not None and not (
            isinstance(max_attempts, int)
            and not isinstance(max_attempts, bool)
            and max_attempts > 0
        ):
            raise ConfigurationError(f"{where}: max_attempts={max_attempts!r} must be >= 1")
        self.subject = subject
        self.fn = fn
        self.where = where
        self.timeout = timeout
        self.max_attempts = max_attempts
        _, hints = signature_of(fn)
        if "return" not in hints:
            raise ConfigurationError(
                f"{where}: annotate the return type, `-> None` for an event handler or "
                "`-> ReplyType` for one that answers requests"
            )
        self.reply_type: Any = hints["return"]
        self.kind = "event" if self.reply_type in (None, type(None)) else "request"

    def __repr__(self) -> str:
        return f"<Handler {self.kind} {self.subject} {getattr(self.fn, '__qualname__', '')}>"

    def compile(self, container: Container | None) -> Call:
        return Call(self, container)


class Call:
    """A handler's call decided once: how to decode its payload, what to inject, how to
    encode its reply; run per message by the consumer."""

    __slots__ = ("decoder", "encoder", "envelope", "fn", "handler", "payload", "plan")

    def __init__(self, handler: Handler, container: Container | None) -> None:
        self.handler = handler
        signature, hints = signature_of(handler.fn)
        providers = container.providers if container is not None else {}
        self.payload: str | None = None
        self.envelope: str | None = None
        dependencies: list[str] = []
        payload_type: Any = Any
        for name, parameter in signature.parameters.items():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            annotation = hints.get(name, Any)
            base, extras = t.split_annotation(annotation)
            if base is Message:
                self.envelope = name
            elif (
                isinstance(parameter.default, Depends)
                or any(isinstance(e, Depends) for e in extras)
                or provider_for(providers, base) is not None
                or (isinstance(base, type) and issubclass(base, Request))
            ):
                dependencies.append(name)
            elif self.payload is None:
                self.payload, payload_type = name, annotation
            else:
                raise ConfigurationError(
                    f"{handler.where}: parameters `{self.payload}` and `{name}` are both "
                    "payloads; a handler takes one payload (make it a Struct of both), and "
                    "what is injected needs Depends(...) or a provider (app.provide(Type, ...))"
                )
        try:
            self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(payload_type)
            self.encoder = msgspec.json.Encoder()
            msgspec.json.schema(payload_type)  # refuses types JSON cannot carry
            if handler.kind == "request":
                msgspec.json.schema(handler.reply_type)
        except TypeError as exc:
            raise ConfigurationError(
                f"{handler.where}: {exc}. Payloads and replies travel as JSON, so each must be "
                "a type msgspec encodes (a Struct, a dataclass, str, int, list, ...)"
            ) from None
        self.plan: Plan | None = None
        if dependencies:
            if container is None:
                raise ConfigurationError(
                    f"{handler.where} needs dependencies ({', '.join(dependencies)}) but its "
                    "bus belongs to no app: add MessagingPlugin(bus) to the App"
                )
            self.plan = compile_plan(
                injected_only(handler.fn, dependencies), where=handler.where, container=container
            )
        self.fn = _as_async(handler.fn)

    def decode(self, data: bytes) -> Any:
        """The payload, or the 400 / 422 the sender gets (never an exception of msgspec's)."""
        try:
            return self.decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise ValidationError([from_msgspec("payload", str(exc))]) from None
        except msgspec.DecodeError as exc:
            raise MalformedBody(f"The payload is not valid JSON: {exc}") from None

    async def __call__(self, payload: Any, message: Message, container: Container | None) -> Any:
        kwargs: dict[str, Any] = {}
        if self.payload is not None:
            kwargs[self.payload] = payload
        if self.envelope is not None:
            kwargs[self.envelope] = message
        if self.plan is None:
            return await self.fn(**kwargs)
        assert container is not None
        return await call_planned(self.plan, self.fn, kwargs, container.bare_request())


def _as_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Async functions as they are; a sync handler runs in a thread."""
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    if inspect.iscoroutinefunction(target):
        return fn

    @functools.wraps(fn)
    async def in_thread(**kwargs: Any) -> Any:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(fn, **kwargs))

    return in_thread


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
