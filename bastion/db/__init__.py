"""The database battery: SQLAlchemy 2 (async) with a session per request."""

from bastion.db.model import UUIDPK, IntPK, Model, SoftDelete, Timestamps
from bastion.db.plugin import SQLAlchemyPlugin
from bastion.db.prepared import Prepared

__all__ = ["IntPK", "Model", "Prepared", "SQLAlchemyPlugin", "SoftDelete", "Timestamps", "UUIDPK"]
