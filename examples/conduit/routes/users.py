"""Register, log in, read and update the current user."""

from __future__ import annotations

from msgspec import UNSET
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Router
from bastion.cache import Cache

from .. import views
from ..auth import Credentials, Viewer
from ..caching import ARTICLES, invalidate
from ..errors import BODY_ERRORS, ApiError, documented, taken
from ..models import User
from ..schemas import LoginRequest, NewUserRequest, UpdateUserRequest, UserResponse

router = Router(tags=["users"])


@router.post("/users", status_code=201, responses=documented(*BODY_ERRORS, 409))
async def register(
    body: NewUserRequest, db: AsyncSession, credentials: Credentials
) -> UserResponse:
    new = body.user
    await ensure_free(db, username=new.username, email=new.email)
    user = User(
        username=new.username, email=new.email, password_hash=await credentials.hash(new.password)
    )
    db.add(user)
    await db.flush()
    return views.user_out(user, credentials.token_for(user))


@router.post("/users/login", status_code=200, responses=documented(*BODY_ERRORS, 401))
async def login(body: LoginRequest, db: AsyncSession, credentials: Credentials) -> UserResponse:
    user = await db.scalar(select(User).where(User.email == body.user.email))
    if not await credentials.check(user, body.user.password) or user is None:
        raise ApiError(401, {"credentials": ["invalid"]})
    return views.user_out(user, credentials.token_for(user))


@router.get("/user", responses=documented(401))
async def current(viewer: Viewer, credentials: Credentials) -> UserResponse:
    return views.user_out(viewer, credentials.token_for(viewer))


@router.put("/user", responses=documented(*BODY_ERRORS, 401, 409))
async def update(
    body: UpdateUserRequest,
    viewer: Viewer,
    db: AsyncSession,
    credentials: Credentials,
    cache: Cache,
) -> UserResponse:
    """A partial update: fields left out stay as they are; ``bio`` and ``image`` may be null."""
    db.add(viewer)  # loaded read-only (auth.py): the session tracks its changes from here
    changes = body.user
    username = changes.username if isinstance(changes.username, str) else None
    email = changes.email if isinstance(changes.email, str) else None
    await ensure_free(
        db,
        username=username if username != viewer.username else None,
        email=email if email != viewer.email else None,
    )
    if username is not None:
        viewer.username = username
    if email is not None:
        viewer.email = email
    if isinstance(changes.password, str):
        viewer.password_hash = await credentials.hash(changes.password)
    if changes.bio is not UNSET:
        viewer.bio = changes.bio
    if changes.image is not UNSET:
        viewer.image = changes.image
    if username is not None or changes.bio is not UNSET or changes.image is not UNSET:
        invalidate(db, cache, ARTICLES)  # lists show authors' username, bio and image
    await db.flush()
    return views.user_out(viewer, credentials.token_for(viewer))


async def ensure_free(db: AsyncSession, *, username: str | None, email: str | None) -> None:
    """409 naming each of ``username`` and ``email`` that another account already uses."""
    clashes = []
    if username is not None and await User.exists(db, User.username == username):
        clashes.append("username")
    if email is not None and await User.exists(db, User.email == email):
        clashes.append("email")
    if clashes:
        raise taken(*clashes)
