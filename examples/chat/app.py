"""A chat: rooms, who is online, and history in the database. ``make demo-chat`` serves it.

Open http://127.0.0.1:8000 in two tabs. The page uses the official phoenix JS client
(``static/vendor/phoenix.mjs``, MIT, from the ``phoenix`` npm package). One process uses the
in-memory pub/sub; set ``BASTION_REDIS_URL`` to run several processes behind one address.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
from sqlalchemy import DateTime, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bastion import App, Settings
from bastion.db import IntPK, Model, SQLAlchemyPlugin, on_commit
from bastion.http.files import FileResponse
from bastion.http.static import StaticFiles
from bastion.websockets.channels import Channel, ChannelError, ChannelSocket, on
from bastion.websockets.pubsub import PubSubPlugin, RedisPubSub

HERE = Path(__file__).parent
HISTORY = 50


class ChatMessage(IntPK, Model):
    __tablename__ = "chat_messages"
    room: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(String(2000))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "author": self.author,
            "body": self.body,
            "sent_at": self.sent_at.isoformat(),
        }


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[\w .-]+$")]


class JoinParams(msgspec.Struct):
    name: Name


class NewMessage(msgspec.Struct):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class RoomChannel(Channel):
    """``room:<name>``: the last messages on join, then live messages and presence."""

    async def join(self, topic: str, params: JoinParams, db: AsyncSession) -> dict[str, Any]:
        room = topic.removeprefix("room:")
        if not room or len(room) > 64:
            raise ChannelError("room names are 1 to 64 characters")
        self.assigns["name"] = params.name
        query = (
            select(ChatMessage)
            .where(ChatMessage.room == room)
            .order_by(ChatMessage.id.desc())
            .limit(HISTORY)
        )
        rows = (await db.scalars(query)).all()
        return {"history": [row.as_dict() for row in reversed(rows)]}

    async def after_join(self) -> None:
        await self.push("presence_state", self.presence_list())
        await self.track(self.assigns["name"], {"online_at": datetime.now(UTC).isoformat()})

    @on("new_msg")
    async def new_msg(self, payload: NewMessage, db: AsyncSession) -> dict[str, Any]:
        row = ChatMessage(
            room=self.topic.removeprefix("room:"),
            author=self.assigns["name"],
            body=payload.body,
            sent_at=datetime.now(UTC),
        )
        db.add(row)
        await db.flush()  # the id; the session commits when the handler returns
        # Told once the row is committed: a client that hears of it can read it, and a
        # message whose commit fails is never announced.
        message = row.as_dict()
        on_commit(db, lambda: self.broadcast("new_msg", message))
        return {"id": row.id}


def create_app() -> App:
    database = SQLAlchemyPlugin(
        os.environ.get("BASTION_DATABASE_URL", "sqlite+aiosqlite:///./chat.db")
    )
    redis_url = os.environ.get("BASTION_REDIS_URL")
    pubsub = PubSubPlugin(RedisPubSub(redis_url) if redis_url else None)

    @asynccontextmanager
    async def create_tables(app: App) -> AsyncIterator[None]:
        assert database.engine is not None
        async with database.engine.begin() as connection:  # a real app uses `bastion db`
            await connection.run_sync(Model.metadata.create_all, tables=[ChatMessage.__table__])
        yield

    app = App(settings=Settings(app_name="chat"), plugins=[database, pubsub])
    app.lifespan_contexts.append(create_tables)
    app.include(ChannelSocket("/socket", channels={"room:*": RoomChannel}, longpoll=True))
    app.mount("/static", StaticFiles(HERE / "static"), name="static")

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(HERE / "static" / "index.html")

    return app


app = create_app()
