"""Passwords and tokens, on ``bastion.auth``: argon2id hashes and ``Authorization: Token <jwt>``.

``AuthPlugin`` runs the JWT backend on the routes that ask for ``Viewer`` (the user's row, or
a 401 without a valid token) or ``MaybeReader`` (the reader's id from the token, None when
anonymous, for the GET routes where following and favourites depend on who reads: they need
the id, not the row, so they read nothing before their one statement).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Depends, Settings, Unauthorized
from bastion.auth import (
    AuthPlugin,
    CurrentIdentity,
    Identity,
    JWTAuth,
    OptionalIdentity,
    PasswordHasher,
    current_user,
)
from bastion.db import Prepared

from .models import User

#: How long a token from register or login lasts; the client logs in again afterwards.
TOKEN_LIFETIME = timedelta(days=30)
#: Signs tokens in the dev and test profiles when no BASTION_SECRET_KEY is set, so `make demo`
#: runs with nothing configured; the prod profile refuses to start without a real secret.
DEVELOPMENT_SECRET = "conduit-development-secret-never-use-in-production"


class Credentials:
    """Hashes passwords and issues tokens; one per app, handed to routes by type."""

    def __init__(self, settings: Settings, hasher: PasswordHasher | None = None) -> None:
        # With a secret key set, JWTAuth derives its own signing key from it at start-up.
        secret = None if settings.secret_key else DEVELOPMENT_SECRET
        self.tokens = JWTAuth(secret=secret, scheme="Token", expires_in=TOKEN_LIFETIME)
        self.hasher = hasher or PasswordHasher()

    def token_for(self, user: User) -> str:
        return self.tokens.encode({"sub": str(user.id)})

    async def hash(self, password: str) -> str:
        return await self.hasher.hash(password)

    async def check(self, user: User | None, password: str) -> bool:
        """Whether ``password`` is ``user``'s; as slow for an unknown user as for a known
        one, so timing does not reveal which e-mail addresses have accounts."""
        if user is None:
            return await self.hasher.verify_dummy(password)
        return await self.hasher.verify(user.password_hash, password)

    def plugin(self) -> AuthPlugin:
        return AuthPlugin(self.tokens, load_user=load_user)


#: Read-only, like every prepared read: a route that changes the user adds it to the session.
USER = Prepared(select(User).where(User.id == bindparam("id")))


async def load_user(identity: Identity, db: AsyncSession) -> User | None:
    """The user a token names; None (so a 401) when that account no longer exists."""
    user_id = id_of(identity)
    if user_id is None:
        return None
    user: User | None = await USER.scalar(db, id=user_id)
    return user


def id_of(identity: Identity) -> int | None:
    """The user id a token names; None for a subject no Conduit user can have."""
    subject = identity.subject
    if not (subject.isascii() and subject.isdigit()) or int(subject) > 2**31 - 1:
        return None
    return int(subject)


async def reader_id(identity: OptionalIdentity) -> int | None:
    """The reader's id, without loading the reader: a read marks what that id favourited
    and follows. A token whose account was deleted reads as anonymous would: that id has
    no favourites or follows left (the same answers ``optional_user`` gave)."""
    return None if identity is None else id_of(identity)


async def writer_id(identity: CurrentIdentity) -> int:
    """The signed-in user's id, without loading the user, for a write that needs only the
    id: its own read of what it changes checks that the account still exists
    (``views.article_to_change``)."""
    user_id = id_of(identity)
    if user_id is None:
        raise Unauthorized("the token names no user")
    return user_id


#: The signed-in user, or 401 ``{"errors": {"token": ["is missing"]}}``.
Viewer = Annotated[User, Depends(current_user)]
#: The reader's user id, or None for an anonymous request (a bad token is still a 401).
MaybeReader = Annotated[int | None, Depends(reader_id)]
#: The signed-in user's id for a write, or 401; the account is checked by the write's read.
Writer = Annotated[int, Depends(writer_id)]
