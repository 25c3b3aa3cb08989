"""The current user's notifications as JSON routes, and their live stream (SSE).

    GET  /notifications                  the newest (?unread=true, ?limit=, ?before=<id>)
    GET  /notifications/unread-count     {"unread": 3}
    POST /notifications/{id}/read        the notification, marked read (404: not yours)
    POST /notifications/read-all         {"marked": 3}
    GET  /notifications/stream           text/event-stream of "notification" events

Served by ``NotificationsPlugin(routes="/notifications")``; every route needs a signed-in user
(``CurrentUser``: a 401 otherwise) and sees only that user's notifications. The JSON routes
take the request's database session, so the inbox works in its transaction (committed with
the answer) like any other route of the app.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from bastion import Header, Path, Query, Router
from bastion.auth.guards import CurrentUser
from bastion.exceptions import NotFound
from bastion.http.sse import EventSourceResponse
from bastion.notifications.database import Inbox, StoredNotification
from bastion.notifications.notifier import Notifier

#: Notification ids are 32 hex digits; a longer value is bad input, not a lookup.
NotificationId = Annotated[str, Path(min_length=1, max_length=64)]


class NotificationPage(msgspec.Struct):
    """A page of notifications, newest first, and how many of the user's are unread."""

    notifications: list[StoredNotification]
    unread: int


class UnreadCount(msgspec.Struct):
    unread: int


class MarkedRead(msgspec.Struct):
    """How many notifications this request marked read."""

    marked: int


def notifications_router(prefix: str, notifier: Notifier) -> Router:
    """The routes under ``prefix``, on ``notifier``'s inbox (and pub/sub for the stream)."""
    assert notifier.inbox is not None
    inbox: Inbox = notifier.inbox
    router = Router(prefix, tags=["notifications"])

    @router.get("/", summary="List my notifications")
    async def list_notifications(
        user: CurrentUser,
        db: AsyncSession,
        unread: Annotated[bool, Query(description="Only the unread ones")] = False,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        before: Annotated[
            str | None,
            Query(max_length=64, description="The last id of the previous page"),
        ] = None,
    ) -> NotificationPage:
        """Newest first; page with ``before`` set to the last id received."""
        page = await inbox.list(user, unread=unread, limit=limit, before=before)
        return NotificationPage(page, await inbox.unread_count(user))

    @router.get("/unread-count", summary="Count my unread notifications")
    async def unread_count(user: CurrentUser, db: AsyncSession) -> UnreadCount:
        return UnreadCount(await inbox.unread_count(user))

    @router.post("/read-all", status_code=200, summary="Mark all my notifications read")
    async def read_all(user: CurrentUser, db: AsyncSession) -> MarkedRead:
        return MarkedRead(await inbox.mark_all_read(user))

    @router.post(
        "/{notification_id}/read", status_code=200, summary="Mark one of my notifications read"
    )
    async def read_one(
        user: CurrentUser, db: AsyncSession, notification_id: NotificationId
    ) -> StoredNotification:
        """The notification, with the time it was first read; 404 if it is not yours."""
        marked = await inbox.mark_read(user, notification_id)
        if marked is None:
            raise NotFound("You have no notification with this id")
        return marked

    if notifier.pubsub is not None:
        _add_stream(router, notifier)
    return router


_STREAM = {
    "description": "A `notification` event per notification, its data as the list shows it",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def _add_stream(router: Router, notifier: Notifier) -> None:
    from bastion.websockets.pubsub.sse import topic_events

    pubsub = notifier.pubsub
    assert pubsub is not None

    @router.get(
        "/stream",
        summary="My notifications as they arrive (Server-Sent Events)",
        responses={200: _STREAM},
    )
    async def stream(
        user: CurrentUser,
        last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    ) -> EventSourceResponse:
        """``notification`` events, each a notification as the list shows it; a browser
        that reconnects with ``Last-Event-ID`` gets the ones it missed first."""
        topic = notifier.topic_of(user)
        return EventSourceResponse(topic_events(pubsub, topic, last_event_id=last_event_id))


__all__ = ["MarkedRead", "NotificationPage", "UnreadCount", "notifications_router"]
