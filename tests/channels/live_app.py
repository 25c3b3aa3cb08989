"""The app the live tests serve with uvicorn: one room channel with presence.

``BASTION_TEST_REDIS_URL`` switches it to the Redis pub/sub (for the two-process test).
"""

import os
from typing import Any

import msgspec

from bastion import App, Settings
from bastion.websockets.channels import Channel, ChannelError, ChannelSocket, on
from bastion.websockets.pubsub import PubSubPlugin, RedisPubSub


class JoinParams(msgspec.Struct):
    name: str


class Shout(msgspec.Struct):
    body: str


class Room(Channel):
    async def join(self, topic: str, params: JoinParams) -> dict:
        if params.name == "mallory":
            raise ChannelError("unauthorized")
        self.assigns["name"] = params.name
        return {"welcome": params.name}

    async def after_join(self) -> None:
        await self.push("presence_state", self.presence_list())
        await self.track(self.assigns["name"], {"node": os.getpid()})

    @on("shout")
    async def shout(self, payload: Shout) -> dict:
        await self.broadcast("shout", {"body": payload.body, "from": self.assigns["name"]})
        return {"echo": payload.body}

    @on("fail")
    async def fail(self, payload: Any) -> None:
        raise RuntimeError("this handler fails on purpose")


def make_app() -> App:
    redis_url = os.environ.get("BASTION_TEST_REDIS_URL")
    backend = (
        RedisPubSub(redis_url, prefix=os.environ["BASTION_TEST_PREFIX"]) if redis_url else None
    )
    plugin = PubSubPlugin(backend, presence_heartbeat=0.5, presence_timeout=3)
    app = App(settings=Settings(profile="test"), plugins=[plugin])
    app.include(ChannelSocket("/socket", channels={"room:*": Room}, longpoll=True))
    return app
