"""Sessions: signed-cookie or server-side (memory, database, Redis), and flash messages."""

from bastion.auth.sessions.plugin import SessionPlugin
from bastion.auth.sessions.session import Flash, Session, flash, flashed
from bastion.auth.sessions.stores import MemoryStore, SessionStore

__all__ = ["Flash", "MemoryStore", "Session", "SessionPlugin", "SessionStore", "flash", "flashed"]
