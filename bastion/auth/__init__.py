"""Authentication and authorization: passwords, sessions, backends, guards and policies, and
the account features (routes, verification, two-factor, passkeys, social login, refresh
tokens, session management, lockout). Import everything from here: ``from bastion.auth
import AuthRoutes, VerificationRoutes``.

The names of modules that put tables on ``bastion.db.Model.metadata`` (``User``,
``AuthRoutes``, ``APIKeyAuth``, ``DatabaseStore``, ``RefreshTokens``, ``Lockout``,
``TwoFactorRoutes``, ``PasskeyRoutes``, ``SocialRoutes``...) or need the ``accounts`` extra
(pyotp, segno, webauthn, authlib) are loaded when first used, so an app's migrations hold
exactly the tables of the features it uses, and an app without the extra imports this
package all the same.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bastion.auth.backends.jwt import JWTAuth, JWTKey
from bastion.auth.backends.session import SessionAuth
from bastion.auth.guards import (
    CurrentIdentity,
    CurrentUser,
    IdentityGuard,
    OptionalIdentity,
    OptionalUser,
    current_identity,
    current_user,
    optional_identity,
    optional_user,
    requires,
    requires_verified,
)
from bastion.auth.identity import AuthBackend, Identity
from bastion.auth.login import login, logout
from bastion.auth.passwords import PasswordHasher, PasswordPolicy
from bastion.auth.plugin import Authentication, AuthPlugin
from bastion.auth.policies import Policies, Policy, authorize, can, policy
from bastion.auth.sessions.plugin import SessionPlugin
from bastion.auth.sessions.redis_store import RedisStore
from bastion.auth.sessions.session import Flash, Session, flash, flashed
from bastion.auth.sessions.stores import MemoryStore, SessionStore

if TYPE_CHECKING:
    from bastion.auth.account_sessions import AccountSessionRoutes, DeviceSession
    from bastion.auth.apikeys import APIKeyAuth
    from bastion.auth.lockout import Lockout, LockoutNotice
    from bastion.auth.models import User, load_user
    from bastion.auth.pages import AccountPages
    from bastion.auth.passkeys import PasskeyRoutes, PasskeyUser
    from bastion.auth.refresh import RefreshTokens, TokenPair
    from bastion.auth.routes import AuthRoutes, ResetLink
    from bastion.auth.second_step import SecondFactor
    from bastion.auth.sessions.database_store import DatabaseStore
    from bastion.auth.social import (
        GitHubProvider,
        GoogleProvider,
        OIDCProvider,
        Provider,
        SocialProfile,
        SocialRoutes,
        SocialUsers,
    )
    from bastion.auth.two_factor import TwoFactorUser
    from bastion.auth.two_factor_routes import TwoFactorRoutes
    from bastion.auth.verification import VerifiableUser, VerificationLink, VerificationRoutes

#: Loaded on first use: name -> module.
_LAZY = {
    "APIKeyAuth": "bastion.auth.apikeys",
    "AccountPages": "bastion.auth.pages",
    "AccountSessionRoutes": "bastion.auth.account_sessions",
    "AuthRoutes": "bastion.auth.routes",
    "DatabaseStore": "bastion.auth.sessions.database_store",
    "DeviceSession": "bastion.auth.account_sessions",
    "GitHubProvider": "bastion.auth.social",
    "GoogleProvider": "bastion.auth.social",
    "Lockout": "bastion.auth.lockout",
    "LockoutNotice": "bastion.auth.lockout",
    "OIDCProvider": "bastion.auth.social",
    "PasskeyRoutes": "bastion.auth.passkeys",
    "Provider": "bastion.auth.social",
    "RefreshTokens": "bastion.auth.refresh",
    "ResetLink": "bastion.auth.routes",
    "SecondFactor": "bastion.auth.second_step",
    "SocialProfile": "bastion.auth.social",
    "SocialRoutes": "bastion.auth.social",
    "TokenPair": "bastion.auth.refresh",
    "TwoFactorRoutes": "bastion.auth.two_factor_routes",
    "User": "bastion.auth.models",
    "VerificationLink": "bastion.auth.verification",
    "VerificationRoutes": "bastion.auth.verification",
    "VerifiableUser": "bastion.auth.verification",
    "TwoFactorUser": "bastion.auth.two_factor",
    "PasskeyUser": "bastion.auth.passkeys",
    "SocialUsers": "bastion.auth.social",
    "load_user": "bastion.auth.models",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bastion.auth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once
    return value


__all__ = [
    "APIKeyAuth",
    "AccountPages",
    "AccountSessionRoutes",
    "AuthBackend",
    "AuthPlugin",
    "AuthRoutes",
    "Authentication",
    "CurrentIdentity",
    "CurrentUser",
    "DatabaseStore",
    "DeviceSession",
    "Flash",
    "GitHubProvider",
    "GoogleProvider",
    "Identity",
    "IdentityGuard",
    "JWTAuth",
    "JWTKey",
    "Lockout",
    "LockoutNotice",
    "MemoryStore",
    "OIDCProvider",
    "OptionalIdentity",
    "OptionalUser",
    "PasskeyRoutes",
    "PasskeyUser",
    "PasswordHasher",
    "PasswordPolicy",
    "Policies",
    "Policy",
    "Provider",
    "RedisStore",
    "RefreshTokens",
    "ResetLink",
    "SecondFactor",
    "Session",
    "SessionAuth",
    "SessionPlugin",
    "SessionStore",
    "SocialProfile",
    "SocialRoutes",
    "SocialUsers",
    "TokenPair",
    "TwoFactorRoutes",
    "TwoFactorUser",
    "User",
    "VerifiableUser",
    "VerificationLink",
    "VerificationRoutes",
    "authorize",
    "can",
    "current_identity",
    "current_user",
    "flash",
    "flashed",
    "load_user",
    "login",
    "logout",
    "optional_identity",
    "optional_user",
    "policy",
    "requires",
    "requires_verified",
]
