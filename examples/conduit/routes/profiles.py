"""Profiles, and following or unfollowing their user."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Router

from .. import views
from ..auth import MaybeReader, Viewer
from ..errors import documented, not_found
from ..models import Follow, User
from ..schemas import ProfileResponse

router = Router("/profiles/{username}", tags=["profiles"])


@router.get("/", responses=documented(400, 401, 404, 422))
async def show(username: str, reader: MaybeReader, db: AsyncSession) -> ProfileResponse:
    return ProfileResponse(await views.profile_of(db, reader, username))


@router.post("/follow", status_code=200, responses=documented(400, 401, 404, 422))
async def follow(username: str, viewer: Viewer, db: AsyncSession) -> ProfileResponse:
    """Idempotent; following yourself is allowed (the spec does not forbid it)."""
    user = await find(db, username)
    if not await views.is_following(db, viewer, user):
        db.add(Follow(follower_id=viewer.id, followed_id=user.id))
        await db.flush()
    return ProfileResponse(views.profile(user, following=True))


@router.delete("/follow", status_code=200, responses=documented(400, 401, 404, 422))
async def unfollow(username: str, viewer: Viewer, db: AsyncSession) -> ProfileResponse:
    user = await find(db, username)
    await db.execute(
        delete(Follow).where(Follow.follower_id == viewer.id, Follow.followed_id == user.id)
    )
    return ProfileResponse(views.profile(user, following=False))


#: Built once: SQLAlchemy finds its compiled form without walking a new statement each time.
USER_BY_NAME = select(User).where(User.username == bindparam("username"))


async def find(db: AsyncSession, username: str) -> User:
    """The user ``username``, tracked by the session for a write; 404 when there is none."""
    user = await db.scalar(USER_BY_NAME, {"username": username})
    if user is None:
        raise not_found("profile")
    return user
