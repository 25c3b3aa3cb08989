"""Presence: who is on a topic, with metadata, in the shapes the Phoenix JS client reads."""

from bastion.websockets.presence.tracker import Presence

__all__ = ["Presence"]
