"""Who is present on a topic, replicated between processes over the pub/sub.

Each process (node) owns its local presences and gossips changes as numbered deltas on an
internal topic per presence topic. A node that watches a topic (has sockets joined to it)
keeps a copy of every peer's entries there and turns each change into a ``presence_diff``
for its own sockets only, as Phoenix does: diffs are computed per node, never forwarded.

Repair, all driven by the numbers on the deltas:

- a node that starts watching a topic asks for the peers' full state (``sync``);
- a delta that skips a number, or a heartbeat announcing a newer clock, triggers a ``sync``;
- every node heartbeats every ``heartbeat_interval`` seconds; a node silent for
  ``down_after`` seconds is considered dead and all its presences leave;
- a node that shuts down cleanly says so, and its presences leave at once.

Diffs are batched: the changes of ``diff_interval`` seconds on a topic (5,000 sockets joining
and tracking at once, a node going down) reach the topic's sockets as one ``presence_diff``,
not one each, so joining N sockets costs N diffs' worth of deliveries, not N². A ref that
joins and leaves within one batch is not sent at all.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from bastion._tasks import cancel_and_wait
from bastion.exceptions import ConfigurationError
from bastion.websockets.pubsub.base import Message, PubSub

logger = logging.getLogger("bastion.presence")

#: Heartbeats and shutdown notices of every node.
NODES_TOPIC = "bastion.presence"
Entries = dict[str, tuple[str, dict[str, Any]]]  # phx_ref → (key, meta with phx_ref)


def gossip_topic(topic: str) -> str:
    return f"bastion.presence:{topic}"


class _Peer:
    """One peer's entries on one topic, as of its delta number ``clock``."""

    __slots__ = ("clock", "entries", "missing")

    def __init__(self) -> None:
        self.clock = 0
        self.entries: Entries = {}
        self.missing = 0  # heartbeats in a row that did not list this topic


class Presence:
    """The presence tracker of one process; channels call it through ``Channel.track``."""

    def __init__(
        self,
        pubsub: PubSub,
        *,
        heartbeat_interval: float = 5.0,
        down_after: float = 30.0,
        diff_interval: float = 0.05,
    ) -> None:
        if heartbeat_interval <= 0 or down_after <= heartbeat_interval:
            raise ConfigurationError(
                "Presence: heartbeat_interval must be positive and down_after longer than it "
                f"(got {heartbeat_interval} and {down_after}); e.g. 5 and 30 seconds"
            )
        if not 0 <= diff_interval <= 1:
            raise ConfigurationError(
                f"Presence: diff_interval={diff_interval!r} must be 0 to 1 second; e.g. 0.05"
            )
        self.diff_interval = diff_interval
        # topic → the joins and leaves not sent yet, and the timer that sends them
        self._batches: dict[str, tuple[Entries, Entries, asyncio.TimerHandle]] = {}
        self.pubsub = pubsub
        self.node = pubsub.node_id
        self.heartbeat_interval = heartbeat_interval
        self.down_after = down_after
        self._local: dict[str, dict[str, tuple[str, str, dict[str, Any]]]] = {}  # owner,key,meta
        self._clocks: dict[str, int] = {}
        self._peers: dict[str, dict[str, _Peer]] = {}  # topic → node → entries
        self._watchers: dict[str, int] = {}
        self._seen: dict[str, float] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._work(), name="bastion-presence-gossip"),
            asyncio.create_task(self._heartbeat(), name="bastion-presence-heartbeat"),
        ]
        await self.pubsub.subscribe(NODES_TOPIC, self._inbox.put_nowait)

    async def stop(self) -> None:
        """Tell the peers this node's presences are gone, then stop gossiping."""
        for _, _, timer in self._batches.values():
            timer.cancel()
        self._batches.clear()
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)
        if tasks:
            try:
                async with asyncio.timeout(self.down_after):  # the peers' own limit
                    await self._gossip(NODES_TOPIC, {"t": "down", "node": self.node})
            except Exception as exc:  # the backend may be gone already
                logger.warning("Could not announce this node's shutdown: %s", exc)

    # -- watching ------------------------------------------------------------------------------
    async def watch(self, topic: str) -> None:
        """A local socket joined ``topic``: keep the peers' presences there."""
        await self.start()
        count = self._watchers.get(topic, 0)
        self._watchers[topic] = count + 1
        if count == 0:
            await self.pubsub.subscribe(gossip_topic(topic), self._inbox.put_nowait)
            await self._gossip(gossip_topic(topic), {"t": "sync", "node": self.node})

    async def unwatch(self, topic: str) -> None:
        count = self._watchers.get(topic, 0) - 1
        if count > 0:
            self._watchers[topic] = count
            return
        self._watchers.pop(topic, None)
        self._peers.pop(topic, None)
        await self.pubsub.unsubscribe(gossip_topic(topic), self._inbox.put_nowait)

    # -- tracking ------------------------------------------------------------------------------
    async def track(self, owner: str, topic: str, key: str, meta: Mapping[str, Any]) -> str:
        """Add ``key`` with ``meta`` on ``topic`` for ``owner``; returns the new ``phx_ref``."""
        ref = _new_ref()
        full = {**meta, "phx_ref": ref}
        self._local.setdefault(topic, {})[ref] = (owner, str(key), full)
        await self._changed(topic, {ref: (str(key), full)}, {})
        return ref

    async def update(self, owner: str, topic: str, key: str, meta: Mapping[str, Any]) -> str:
        """Replace ``key``'s meta: a leave of the old ref and a join of the new one."""
        entries = self._local.get(topic, {})
        old = [(r, e) for r, e in entries.items() if e[0] == owner and e[1] == str(key)]
        leaves = {r: (e[1], e[2]) for r, e in old}
        for ref, _ in old:
            del entries[ref]
        ref = _new_ref()
        full = {**meta, "phx_ref": ref}
        if old:
            full["phx_ref_prev"] = old[-1][0]
        self._local.setdefault(topic, {})[ref] = (owner, str(key), full)
        await self._changed(topic, {ref: (str(key), full)}, leaves)
        return ref

    async def untrack(self, owner: str, topic: str, key: str | None = None) -> None:
        """Remove ``owner``'s presences on ``topic`` (only ``key``'s if given)."""
        entries = self._local.get(topic)
        if not entries:
            return
        gone = {
            ref: (e[1], e[2])
            for ref, e in entries.items()
            if e[0] == owner and (key is None or e[1] == str(key))
        }
        for ref in gone:
            del entries[ref]
        if not entries:
            del self._local[topic]
        if gone:
            await self._changed(topic, {}, gone)

    def list(self, topic: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """``{key: {"metas": [...]}}`` over every node: what ``presence_state`` carries."""
        entries: Entries = {ref: (e[1], e[2]) for ref, e in self._local.get(topic, {}).items()}
        for peer in self._peers.get(topic, {}).values():
            entries.update(peer.entries)
        return _grouped(entries)

    async def _changed(self, topic: str, joins: Entries, leaves: Entries) -> None:
        self._emit(topic, joins, leaves)
        # Clocks are kept after the last leave: a later join must still count upwards.
        clock = self._clocks[topic] = self._clocks.get(topic, 0) + 1
        delta = {"t": "delta", "node": self.node, "clock": clock, "joins": joins}
        delta["leaves"] = list(leaves)
        await self._gossip(gossip_topic(topic), delta)

    def _emit(self, topic: str, joins: Entries, leaves: Entries) -> None:
        """Add changes to the topic's next diff (sent within ``diff_interval``)."""
        if not (joins or leaves):
            return
        batch = self._batches.get(topic)
        if batch is None:
            timer = asyncio.get_running_loop().call_later(self.diff_interval, self._flush, topic)
            batch = self._batches[topic] = ({}, {}, timer)
        pending_joins, pending_leaves, _ = batch
        for ref, entry in joins.items():
            if pending_leaves.pop(ref, None) is None:  # back before its leave was sent
                pending_joins[ref] = entry
        for ref, entry in leaves.items():
            if pending_joins.pop(ref, None) is None:  # gone before its join was sent
                pending_leaves[ref] = entry

    def _flush(self, topic: str) -> None:
        batch = self._batches.pop(topic, None)
        if batch is None:
            return
        joins, leaves, _ = batch
        if joins or leaves:
            diff = {"joins": _grouped(joins), "leaves": _grouped(leaves)}
            self.pubsub.local_broadcast(Message(topic, "presence_diff", diff))

    async def _gossip(self, topic: str, payload: dict[str, Any]) -> None:
        await self.pubsub.broadcast(topic, "gossip", payload, history=False)

    # -- the peers -----------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                await self._handle(message)
            except Exception:
                logger.exception("Presence gossip failed on %r", message.topic)

    async def _handle(self, message: Message) -> None:
        data = message.payload
        node = data.get("node") if isinstance(data, dict) else None
        if not isinstance(node, str) or node == self.node:
            return
        kind = data.get("t")
        if kind == "down":
            self._node_down(node)
            return
        self._seen[node] = time.monotonic()
        if kind == "hb":
            await self._heard(node, data.get("clocks") or {})
            return
        topic = message.topic.removeprefix("bastion.presence:")
        if topic not in self._watchers:
            return
        if kind == "sync" and topic in self._clocks:
            entries = {r: (e[1], e[2]) for r, e in self._local.get(topic, {}).items()}
            state = {"t": "state", "node": self.node, "clock": self._clocks[topic]}
            await self._gossip(message.topic, {**state, "entries": entries})
        elif kind == "state":
            self._replace(topic, node, int(data["clock"]), _entries(data["entries"]))
        elif kind == "delta":
            await self._apply(topic, node, data)

    async def _apply(self, topic: str, node: str, data: dict[str, Any]) -> None:
        peer = self._peers.setdefault(topic, {}).setdefault(node, _Peer())
        clock = int(data["clock"])
        if clock <= peer.clock:
            return  # already seen (a full state overtook it)
        if clock != peer.clock + 1:  # a delta went missing: ask for everything
            await self._gossip(gossip_topic(topic), {"t": "sync", "node": self.node})
        peer.clock = clock
        joins = _entries(data.get("joins") or {})
        leaves = {r: peer.entries.pop(r) for r in data.get("leaves") or () if r in peer.entries}
        peer.entries.update(joins)
        self._emit(topic, joins, leaves)

    def _replace(self, topic: str, node: str, clock: int, entries: Entries) -> None:
        peer = self._peers.setdefault(topic, {}).setdefault(node, _Peer())
        if clock < peer.clock:
            return
        joins = {r: e for r, e in entries.items() if r not in peer.entries}
        leaves = {r: e for r, e in peer.entries.items() if r not in entries}
        peer.clock, peer.entries = clock, entries
        self._emit(topic, joins, leaves)

    async def _heard(self, node: str, clocks: dict[str, int]) -> None:
        """A heartbeat lists the node's clocks: catch up on topics where we fell behind."""
        for topic in self._watchers:
            peer = self._peers.get(topic, {}).get(node)
            clock = clocks.get(topic)
            if clock is not None and (peer is None or peer.clock < clock):
                await self._gossip(gossip_topic(topic), {"t": "sync", "node": self.node})
            elif clock is None and peer is not None and peer.entries:
                # Twice absent (heartbeats can overtake deltas): its last leave was lost.
                peer.missing += 1
                if peer.missing >= 2:
                    self._replace(topic, node, peer.clock, {})
            elif peer is not None:
                peer.missing = 0

    def _node_down(self, node: str) -> None:
        self._seen.pop(node, None)
        for topic, peers in self._peers.items():
            peer = peers.pop(node, None)
            if peer is not None:
                self._emit(topic, {}, peer.entries)

    async def _heartbeat(self) -> None:
        """Beat, and let silent peers go. A publish that hangs (a backend that stopped
        answering) gives up after ``down_after``: the peers count this node dead by then, and
        this node must go on noticing theirs."""
        while True:
            self._drop_silent_peers()
            try:
                clocks = {topic: self._clocks[topic] for topic in self._local}
                beat = {"t": "hb", "node": self.node, "clocks": clocks}
                async with asyncio.timeout(self.down_after):
                    await self._gossip(NODES_TOPIC, beat)
            except Exception as exc:
                logger.warning("Presence heartbeat failed: %r", exc)
            await asyncio.sleep(self.heartbeat_interval)

    def _drop_silent_peers(self) -> None:
        silent_since = time.monotonic() - self.down_after
        for node, seen in list(self._seen.items()):
            if seen < silent_since:
                logger.info("Presence: node %s is silent; its presences leave", node)
                self._node_down(node)


def _new_ref() -> str:
    return secrets.token_urlsafe(9)


def _entries(raw: Mapping[str, Any]) -> Entries:
    return {str(ref): (str(pair[0]), dict(pair[1])) for ref, pair in raw.items()}


def _grouped(entries: Entries) -> dict[str, dict[str, list[dict[str, Any]]]]:
    result: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for key, meta in entries.values():
        result.setdefault(key, {"metas": []})["metas"].append(meta)
    return result
