"""The app the message-handler tests run in worker processes (``bastion worker``), set by
environment variables: MSG_URL (a nats:// or redis:// URL), MSG_PREFIX (the test's own
names), MSG_OUT (a folder where each process writes what it handled, one JSON line per
event), MSG_HANG (the slow handler never finishes), MSG_JOBS (JobsPlugin too, so its
``bastion worker`` is the one that runs the handlers), MSG_REDELIVER (seconds)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import msgspec

from bastion import App, Depends
from bastion.services.messaging import Message, MessageBus, MessagingBackend, MessagingPlugin

bus = MessageBus()


class Order(msgspec.Struct):
    id: int


class Ask(msgspec.Struct):
    a: int
    b: int


class Sum(msgspec.Struct):
    total: int
    pid: int


def record(event: str, **fields: object) -> None:
    out = Path(os.environ["MSG_OUT"]) / f"{os.getpid()}.jsonl"
    with out.open("a") as file:
        file.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")


def process_id() -> int:
    return os.getpid()


@bus.message("orders.created")
async def on_order(order: Order, msg: Message) -> None:
    await asyncio.sleep(0.02)  # some work, so both members take part
    record("handled", id=order.id, attempt=msg.attempt)


@bus.message("orders.slow")
async def on_slow(order: Order, msg: Message) -> None:
    record("started", id=order.id, attempt=msg.attempt)
    if os.environ.get("MSG_HANG"):
        await asyncio.sleep(3600)
    record("finished", id=order.id, attempt=msg.attempt)


@bus.message("math.add")
async def add(ask: Ask, pid: Annotated[int, Depends(process_id)]) -> Sum:
    return Sum(ask.a + ask.b, pid)


def backend(url: str, prefix: str) -> MessagingBackend:
    if url.startswith("nats://"):
        from bastion.services.messaging.nats import NatsBackend

        return NatsBackend(url, prefix=prefix)
    from bastion.services.messaging.redis import RedisStreamsBackend

    return RedisStreamsBackend(url, prefix=prefix)


def make_app() -> App[Any]:
    plugins: list[Any] = [
        MessagingPlugin(
            bus,
            backend(os.environ["MSG_URL"], os.environ["MSG_PREFIX"]),
            group="workers",
            concurrency=4,
            redeliver_after=float(os.environ.get("MSG_REDELIVER", "30")),
            grace=1,
        )
    ]
    if os.environ.get("MSG_JOBS"):
        from bastion.jobs import Jobs, JobsPlugin

        plugins.append(JobsPlugin(Jobs(), backend="memory"))
    app = App(plugins=plugins)

    @app.post("/orders")
    async def create_order(order: Order, messages: MessageBus) -> dict[str, int]:
        await messages.publish("orders.created", order)
        return {"id": order.id}

    return app


app = make_app() if "MSG_URL" in os.environ else None
