"""``Consumer``: runs a bus's handlers on the messages a backend delivers to this process.

One loop per subscription fetches as many messages as there are free slots (``concurrency``
in all), so a busy process leaves the rest of the group's messages to idle members instead of
holding them. Each message then runs in its own task:

- payload too large, not JSON, or invalid: logged, answered with a 413/400/422 when it is a
  request, and acknowledged (sending it again could never succeed);
- handler returned: the reply sent (requests), then acknowledged;
- handler raised or timed out: a request gets an error reply and is acknowledged; an event is
  retried with a growing delay, and after ``max_attempts`` deliveries logged and dropped;
- process killed: nothing is acknowledged, so once the message has been idle for
  ``redeliver_after`` seconds the backend hands it to another member. While a handler runs,
  the message is touched every third of that time, so a slow handler is not run twice.

``stop()`` stops fetching, gives running handlers ``grace`` seconds, then cancels them
unacknowledged: they are redelivered, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from bastion._tasks import cancel_and_wait
from bastion.exceptions import HTTPError, PayloadTooLarge
from bastion.services.messaging._options import consumer_options
from bastion.services.messaging.backend import Delivery, MessagingBackend, Source, Subscription
from bastion.services.messaging.bus import ERROR, ERROR_CODE, MessageBus
from bastion.services.messaging.handler import Call, Message

if TYPE_CHECKING:
    from bastion.di.container import Container
    from bastion.services.messaging._observe import MessageMetrics

logger = logging.getLogger("bastion.services.messaging")


class Consumer:
    """Consumes every handler of ``bus`` from ``backend``, as a member of ``group``."""

    def __init__(
        self,
        bus: MessageBus,
        backend: MessagingBackend,
        *,
        container: Container | None = None,
        metrics: MessageMetrics | None = None,
        tracer: Any = None,
        **options: Any,
    ) -> None:
        self.bus = bus
        self.backend = backend
        self.container = container
        self.metrics = metrics
        self.tracer = tracer  # OpenTelemetry's, with ObservabilityPlugin(tracing=True)
        self.options = consumer_options(options, "Consumer")
        self.name = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.calls: dict[str, Call] = {}
        self._slots = _Slots(0)
        self._share = 1
        self._sources: list[Source] = []
        self._loops: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._stopped = asyncio.Event()

    def compile(self) -> None:
        """Decide every handler's call now: a handler that cannot be injected fails here."""
        self.calls = {
            subject: handler.compile(self.container)
            for subject, handler in self.bus.handlers.items()
        }

    async def start(self) -> None:
        """Join the group on every subject and start fetching."""
        if not self.calls:
            self.compile()
        options = self.options
        # Each loop holds at most its share of the slots while it waits for messages, so one
        # quiet subject never keeps another from fetching; every subject gets at least one.
        self._slots.give(max(options["concurrency"], len(self.calls)))
        self._share = max(1, options["concurrency"] // max(1, len(self.calls)))
        for subject, call in self.calls.items():
            handler = call.handler
            subscription = Subscription(
                subject,
                "event" if handler.kind == "event" else "request",
                options["group"],
                redeliver_after=options["redeliver_after"],
                max_attempts=handler.max_attempts or options["max_attempts"],
            )
            source = await self.backend.subscribe(subscription, self.name)
            self._sources.append(source)
            self._loops.append(
                asyncio.create_task(
                    self._loop(source, call, subscription), name=f"consume {subject}"
                )
            )
        logger.info(
            "consuming %s as %s in group %s",
            ", ".join(sorted(self.calls)) or "nothing",
            self.name,
            options["group"],
        )

    async def run(self) -> None:
        """``start``, then wait until ``stop()``."""
        await self.start()
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop fetching; give running handlers ``grace`` seconds, then hand them back."""
        if self._stopping:
            return
        self._stopping = True
        poll = self.options["poll"]
        self._slots.close()  # a loop waiting for room ends now
        for source in self._sources:
            source.wake()
        if self._loops:
            _, late = await asyncio.wait(self._loops, timeout=poll + 5)
            await cancel_and_wait(late)
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=self.options["grace"])
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for source in self._sources:
            with contextlib.suppress(Exception):
                await source.close()
        self._stopped.set()

    # -- fetching -----------------------------------------------------------------------------
    async def _loop(self, source: Source, call: Call, subscription: Subscription) -> None:
        failures = 0
        while not self._stopping:
            taken = await self._slots.take(self._share)
            if not taken:
                break
            try:
                deliveries = await source.fetch(taken, self.options["poll"])
                failures = 0
            except asyncio.CancelledError:
                self._slots.give(taken)
                raise
            except Exception as exc:  # the server is away: try again, slower each time
                self._slots.give(taken)
                failures = min(failures + 1, 6)
                logger.warning("fetching %s failed: %r", subscription.subject, exc)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            self._slots.give(taken - len(deliveries))
            for delivery in deliveries:
                task = asyncio.create_task(self._settle(delivery, call, subscription))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    # -- one message --------------------------------------------------------------------------
    async def _settle(self, delivery: Delivery, call: Call, subscription: Subscription) -> None:
        keepalive = asyncio.create_task(self._keepalive(delivery))
        started = time.perf_counter()
        span = None
        if self.tracer is not None:
            from bastion.services.messaging._observe import Span

            span = Span(
                self.tracer,
                delivery.subject,
                delivery.kind,
                delivery.headers,
                delivery.attempt,
                delivery.id,
            )
        outcome = "cancelled"
        try:
            outcome, ran = await self._handle(delivery, call, subscription)
            if self.metrics is not None:
                seconds = time.perf_counter() - started if ran else None
                self.metrics.handled_one(delivery.subject, delivery.kind, outcome, seconds)
        except asyncio.CancelledError:
            # Stopped past the grace: hand it back now, not after redeliver_after.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await delivery.retry(0)
            raise
        except Exception:  # the backend failed to settle it: it will be redelivered
            outcome = "failed"
            logger.exception("settling %s %s failed", delivery.subject, delivery.id)
        finally:
            keepalive.cancel()
            self._slots.give(1)
            if span is not None:
                span.end(outcome)

    async def _handle(
        self, delivery: Delivery, call: Call, subscription: Subscription
    ) -> tuple[str, bool]:
        """Run and settle one message; its outcome and whether the handler ran."""
        request = delivery.kind == "request"
        fields = {
            "subject": delivery.subject,
            "message_id": delivery.id,
            "attempt": delivery.attempt,
        }
        if request and delivery.deadline is not None and time.time() > delivery.deadline:
            logger.info(
                "request %s %s expired unanswered", delivery.subject, delivery.id, extra=fields
            )
            await delivery.ack()
            return "expired", False
        try:
            if len(delivery.data) > self.options["max_size"]:
                raise PayloadTooLarge(
                    f"The payload has {len(delivery.data)} bytes; at most "
                    f"{self.options['max_size']} are accepted"
                )
            payload = call.decode(delivery.data)
        except HTTPError as exc:
            logger.warning(
                "refused a message on %s: %s", delivery.subject, exc.detail, extra=fields
            )
            if request:
                await self._respond_error(delivery, exc)
            await delivery.ack()
            return "refused", False
        message = Message(
            delivery.subject, delivery.headers, delivery.attempt, delivery.id, request
        )
        try:
            async with asyncio.timeout(call.handler.timeout):
                result = await call(payload, message, self.container)
        except Exception as exc:
            return await self._failed(delivery, subscription, exc, fields), True
        if request:
            try:
                body = call.encoder.encode(result)
            except TypeError as exc:
                logger.error(
                    "the reply of %s cannot be encoded: %s", delivery.subject, exc, extra=fields
                )
                await self._respond_error(delivery, HTTPError("The handler failed"))
            else:
                try:
                    await delivery.respond(body, {})
                except Exception as exc:  # too large for the broker, say
                    logger.error(
                        "the reply of %s could not be sent: %r", delivery.subject, exc, extra=fields
                    )
                    await self._respond_error(delivery, HTTPError("The reply could not be sent"))
        await delivery.ack()
        return "ok", True

    async def _failed(
        self, delivery: Delivery, subscription: Subscription, exc: Exception, fields: dict[str, Any]
    ) -> str:
        """Answer or retry a failed run; the outcome (refused, failed, dropped)."""
        if isinstance(exc, TimeoutError):
            error: HTTPError = HTTPError("The handler timed out", status_code=504)
        elif isinstance(exc, HTTPError):
            error = exc
        else:
            error = HTTPError("The handler failed")
        if error.status_code >= 500:
            logger.error(
                "handler of %s failed (attempt %d)",
                delivery.subject,
                delivery.attempt,
                exc_info=exc,
                extra=fields,
            )
        else:
            logger.info("handler of %s refused: %s", delivery.subject, error.detail, extra=fields)
        refused = error.status_code < 500
        if delivery.kind == "request":
            await self._respond_error(delivery, error)
            await delivery.ack()
            return "refused" if refused else "failed"
        if delivery.attempt >= subscription.max_attempts or refused:
            logger.error(
                "dropped the event %s on %s after %d attempt(s)",
                delivery.id,
                delivery.subject,
                delivery.attempt,
                extra=fields,
            )
            await delivery.ack()
            return "refused" if refused else "dropped"
        delay = min(self.options["retry_delay"] * 2 ** (delivery.attempt - 1), 300.0)
        await delivery.retry(delay)
        return "failed"

    async def _respond_error(self, delivery: Delivery, error: HTTPError) -> None:
        problem = error.problem()
        headers = {
            ERROR_CODE: str(error.status_code),
            ERROR: str(error.detail).replace("\r", " ").replace("\n", " ")[:200],
            "Content-Type": "application/problem+json",
        }
        await delivery.respond(msgspec.json.encode(problem), headers)

    async def _keepalive(self, delivery: Delivery) -> None:
        every = self.options["redeliver_after"] / 3
        while True:
            await asyncio.sleep(every)
            try:
                await delivery.touch()
            except Exception as exc:
                logger.warning("could not extend %s %s: %r", delivery.subject, delivery.id, exc)


class _Slots:
    """Room for messages in flight: ``take`` waits for at least one free slot."""

    def __init__(self, size: int) -> None:
        self.free = size
        self.closed = False
        self._room = asyncio.Event()

    async def take(self, most: int) -> int:
        """At least one slot, at most ``most``; none once closed (the consumer stops)."""
        while self.free <= 0 and not self.closed:
            self._room.clear()
            await self._room.wait()
        if self.closed:
            return 0
        taken = min(self.free, most)
        self.free -= taken
        return taken

    def give(self, count: int) -> None:
        if count > 0:
            self.free += count
            self._room.set()

    def close(self) -> None:
        self.closed = True
        self._room.set()
