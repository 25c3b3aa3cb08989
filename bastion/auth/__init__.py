"""Authentication and authorization: passwords, sessions, backends, guards and policies.

Modules that add tables to ``bastion.db.Model.metadata`` are imported only when used:
``bastion.auth.models`` (``User``), ``bastion.auth.apikeys`` (``APIKeyAuth``),
``bastion.auth.routes`` (``AuthRoutes``) and ``bastion.auth.sessions.database_store``.
"""

from bastion.auth.backends.jwt import JWTAuth, JWTKey
from bastion.auth.backends.session import SessionAuth
from bastion.auth.guards import CurrentUser, OptionalUser, current_user, optional_user, requires
from bastion.auth.identity import AuthBackend, Identity
from bastion.auth.login import login, logout
from bastion.auth.passwords import PasswordHasher, PasswordPolicy
from bastion.auth.plugin import Authentication, AuthPlugin
from bastion.auth.policies import Policies, Policy, authorize, can, policy
from bastion.auth.sessions.plugin import SessionPlugin
from bastion.auth.sessions.redis_store import RedisStore
from bastion.auth.sessions.session import Flash, Session, flash, flashed
from bastion.auth.sessions.stores import MemoryStore, SessionStore

__all__ = [
    "AuthBackend",
    "AuthPlugin",
    "Authentication",
    "CurrentUser",
    "Flash",
    "Identity",
    "JWTAuth",
    "JWTKey",
    "MemoryStore",
    "OptionalUser",
    "PasswordHasher",
    "PasswordPolicy",
    "Policies",
    "Policy",
    "RedisStore",
    "Session",
    "SessionAuth",
    "SessionPlugin",
    "SessionStore",
    "authorize",
    "can",
    "current_user",
    "flash",
    "flashed",
    "login",
    "logout",
    "optional_user",
    "policy",
    "requires",
]
