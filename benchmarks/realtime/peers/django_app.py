"""Django Channels: an AsyncWebsocketConsumer in one group of the in-memory channel layer."""

import json

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-" + "x" * 40,
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from peers._fanout import GROUP, wrap  # noqa: E402


class Fanout(AsyncWebsocketConsumer):
    groups = [GROUP]  # joined by websocket_connect before connect() runs

    async def connect(self):
        await self.accept()
        await self.send(text_data="joined")

    async def tick(self, event):
        await self.send(text_data=event["text"])


async def broadcast(payload):
    await get_channel_layer().group_send(GROUP, {"type": "tick", "text": json.dumps(payload)})


app = wrap(URLRouter([path("ws", Fanout.as_asgi())]), broadcast, lifespan=False)
