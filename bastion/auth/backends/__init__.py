"""Authentication backends: session login and JWT bearer tokens (API keys live in
``bastion.auth.apikeys``, with their table)."""

from bastion.auth.backends.jwt import JWTAuth, JWTKey
from bastion.auth.backends.session import SessionAuth

__all__ = ["JWTAuth", "JWTKey", "SessionAuth"]
