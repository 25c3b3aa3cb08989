"""A tiny Phoenix V2 client over the test client's WebSocket session, for in-process tests."""

from __future__ import annotations

import itertools
from typing import Any

from bastion.testing import WebSocketSession


class Phx:
    """Sends frames with fresh refs and reads frames back, keeping the ones not asked for."""

    def __init__(self, session: WebSocketSession) -> None:
        self.session = session
        self.refs = itertools.count(1)
        self.join_refs: dict[str, str] = {}
        self.pending: list[list[Any]] = []

    def send(self, topic: str, event: str, payload: Any, join_ref: str | None = None) -> str:
        ref = str(next(self.refs))
        if event == "phx_join":
            join_ref = self.join_refs[topic] = ref
        elif join_ref is None:
            join_ref = self.join_refs.get(topic)
        self.session.send_json([join_ref, ref, topic, event, payload])
        return ref

    def join(self, topic: str, params: Any = None) -> dict[str, Any]:
        ref = self.send(topic, "phx_join", params or {})
        return self.reply(ref)

    def push(self, topic: str, event: str, payload: Any) -> dict[str, Any]:
        return self.reply(self.send(topic, event, payload))

    def next(self) -> list[Any]:
        if self.pending:
            return self.pending.pop(0)
        return self.session.receive_json()

    def reply(self, ref: str) -> dict[str, Any]:
        """The payload (``{status, response}``) of the reply to ``ref``."""
        return self.expect(lambda f: f[3] == "phx_reply" and f[1] == ref)[4]

    def event(self, topic: str, event: str) -> list[Any]:
        return self.expect(lambda f: f[2] == topic and f[3] == event)

    def expect(self, wanted: Any) -> list[Any]:
        for index, frame in enumerate(self.pending):
            if wanted(frame):
                return self.pending.pop(index)
        while True:
            frame = self.session.receive_json()
            if wanted(frame):
                return frame
            self.pending.append(frame)
