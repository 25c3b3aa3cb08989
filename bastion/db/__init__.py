"""The database battery: SQLAlchemy 2 (async) with a session per request."""

from bastion.db.model import UUIDPK, IntPK, Model, SoftDelete, Timestamps
from bastion.db.plugin import SQLAlchemyPlugin

__all__ = ["IntPK", "Model", "SQLAlchemyPlugin", "SoftDelete", "Timestamps", "UUIDPK"]
