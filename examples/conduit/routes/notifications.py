"""Your notifications (not in the RealWorld spec): what happened to your articles, newest
first, and marking them read."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Router
from bastion.notifications import Inbox, StoredNotification

from ..auth import Viewer
from ..errors import documented
from ..schemas import Timestamp, Wire, timestamp

router = Router("/notifications", tags=["notifications"])


class NotificationView(Wire):
    id: str
    type: str
    data: dict[str, Any]
    created_at: Timestamp
    read_at: Timestamp | None


class NotificationList(Wire):
    notifications: list[NotificationView]
    unread_count: int


def view(stored: StoredNotification) -> NotificationView:
    read_at = timestamp(stored.read_at) if stored.read_at is not None else None
    return NotificationView(
        stored.id, stored.type, stored.data, timestamp(stored.created_at), read_at
    )


# Each route takes the request's session, so the inbox reads and writes in its transaction.
@router.get("/", responses=documented(401))
async def list_notifications(db: AsyncSession, viewer: Viewer, inbox: Inbox) -> NotificationList:
    """Your 20 newest notifications, and how many are unread."""
    latest = await inbox.list(viewer, limit=20)
    return NotificationList([view(n) for n in latest], await inbox.unread_count(viewer))


@router.post("/read", status_code=200, responses=documented(401))
async def mark_all_read(db: AsyncSession, viewer: Viewer, inbox: Inbox) -> NotificationList:
    """Mark every notification read; answers the list as it now is."""
    await inbox.mark_all_read(viewer)
    return await list_notifications(db, viewer, inbox)
