"""Long-poll requests for a session that another process owns, relayed over the pub/sub.

As in Phoenix: a session's token starts with its process's node id, and its owner listens
on ``phx:longpoll:<token>``. A process that gets a GET or POST for a session it does not own
asks there, with a reference and its own node id, and waits on ``phx:longpoll:reply:<node>``:
first for ``accepted`` (an owner that does not say so within ``timeout`` seconds is taken
for gone), then for ``done``, which carries the poll's frames or the POST's status.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from bastion.exceptions import HTTPError
from bastion.websockets.pubsub.base import Message, PubSub

if TYPE_CHECKING:
    from bastion.websockets.channels.longpoll import LongPollSession

logger = logging.getLogger("bastion.channels")
ASK = "phx:longpoll:"
REPLY = "phx:longpoll:reply:"
MAX_TOKEN = 128  # ours are about 65 characters; longer ones are not relayed


class Relay:
    """Both ends of relayed requests for one socket, on one pub/sub."""

    def __init__(self, pubsub: PubSub, timeout: float = 2.0) -> None:
        self.pubsub = pubsub
        self.timeout = timeout
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._listening = False
        self._serving: dict[str, Any] = {}  # token → its subscriber
        self._tasks: set[asyncio.Task[None]] = set()

    def owns_elsewhere(self, token: str) -> bool:
        """Whether ``token`` names another process's session (as far as its form tells)."""
        node = token.rpartition(".")[0]
        return bool(node) and node != self.pubsub.node_id and len(token) <= MAX_TOKEN

    # -- asking --------------------------------------------------------------------------------
    async def ask(
        self, token: str, event: str, payload: dict[str, Any], window: float
    ) -> dict[str, Any] | None:
        """The owner's ``done`` answer; None if no process owns ``token``; ``{}`` if the
        owner accepted but did not finish in time (it went away meanwhile)."""
        if not self._listening:
            self._listening = True  # before the await: concurrent asks subscribe once
            await self.pubsub.subscribe(REPLY + self.pubsub.node_id, self._on_reply)
        ref = secrets.token_hex(8)
        answers = self._waiting[ref] = asyncio.Queue()
        try:
            question = {**payload, "ref": ref, "node": self.pubsub.node_id}
            await self.pubsub.broadcast(ASK + token, event, question, history=False)
            accepted = await _next(answers, self.timeout)
            if accepted is None:
                return None
            if accepted["event"] == "done":
                return accepted
            return await _next(answers, window + self.timeout) or {}
        finally:
            del self._waiting[ref]

    def _on_reply(self, message: Message) -> None:
        payload = message.payload
        answers = self._waiting.get(str(payload.get("ref"))) if isinstance(payload, dict) else None
        if answers is not None:
            answers.put_nowait({**payload, "event": message.event})

    # -- answering, for the sessions of this process -------------------------------------------
    async def serve(self, session: LongPollSession) -> None:
        def on_ask(message: Message) -> None:
            task = asyncio.get_running_loop().create_task(self._answer(session, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._serving[session.token] = on_ask
        await self.pubsub.subscribe(ASK + session.token, on_ask)

    async def stop_serving(self, session: LongPollSession) -> None:
        subscriber = self._serving.pop(session.token, None)
        if subscriber is None:
            return
        try:
            await self.pubsub.unsubscribe(ASK + session.token, subscriber)
        except Exception as exc:  # stopped already (shutdown), which dropped it anyway
            logger.debug("Could not unsubscribe a long-poll session: %s", exc)

    async def _answer(self, session: LongPollSession, message: Message) -> None:
        question = message.payload
        if not isinstance(question, dict) or not isinstance(question.get("node"), str):
            return
        try:
            await self._answer_question(session, message.event, question)
        except Exception as exc:  # the pub/sub went away (shutdown): the asker times out
            logger.debug("Could not answer a relayed long poll: %s", exc)

    async def _answer_question(
        self, session: LongPollSession, event: str, question: dict[str, Any]
    ) -> None:
        reply = REPLY + question["node"]
        ref = question.get("ref")
        await self.pubsub.broadcast(reply, "accepted", {"ref": ref}, history=False)
        done: dict[str, Any] = {"ref": ref}
        if event == "poll":
            done["status"], done["messages"] = await session.take()
        else:
            try:
                await session.publish(str(question.get("body", "")).encode())
                done["status"] = 200
            except HTTPError as exc:
                done["status"], done["detail"] = exc.status_code, exc.detail
        await self.pubsub.broadcast(reply, "done", done, history=False)


async def _next(answers: asyncio.Queue[dict[str, Any]], seconds: float) -> dict[str, Any] | None:
    """The next answer, or None if none comes within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await answers.get()
    except TimeoutError:
        return None
