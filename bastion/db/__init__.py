"""The database battery: SQLAlchemy 2 (async) with a session per request."""

from bastion.db._current import current_session
from bastion.db.errors import InvalidValue
from bastion.db.functions import list_of
from bastion.db.model import UUIDPK, IntPK, Model, SoftDelete, Timestamps
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.db.prepared import Prepared
from bastion.db.transactions import on_commit

__all__ = [
    "UUIDPK",
    "IntPK",
    "InvalidValue",
    "Model",
    "Prepared",
    "SQLAlchemyPlugin",
    "SoftDelete",
    "Timestamps",
    "current_session",
    "list_of",
    "on_commit",
]
