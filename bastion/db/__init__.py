"""The database battery: SQLAlchemy 2 (async) with a session per request."""

from bastion.db.model import Model
from bastion.db.plugin import SQLAlchemyPlugin

__all__ = ["Model", "SQLAlchemyPlugin"]
