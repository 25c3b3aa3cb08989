"""Passkeys (WebAuthn): registration, password-less sign-in and credential management.

Importing this package puts ``auth_passkeys`` and ``auth_passkey_challenges`` on
``bastion.db.Model.metadata``; see docs/accounts-passkeys.md.
"""

from bastion.auth.passkeys.ceremony import RelyingParty
from bastion.auth.passkeys.models import Passkey, PasskeyChallenge
from bastion.auth.passkeys.routes import PasskeyInfo, PasskeyRoutes, PasskeyUser

__all__ = [
    "Passkey",
    "PasskeyChallenge",
    "PasskeyInfo",
    "PasskeyRoutes",
    "PasskeyUser",
    "RelyingParty",
]
