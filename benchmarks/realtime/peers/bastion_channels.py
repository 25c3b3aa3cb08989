"""Bastion channels: a ChannelSocket (Phoenix protocol) whose sockets join one topic."""

from bastion import App, Settings
from bastion.websockets.channels import Channel, ChannelSocket
from bastion.websockets.pubsub import PubSubPlugin
from peers._fanout import TOPIC, wrap


class Fanout(Channel):
    pass


plugin = PubSubPlugin()
bastion = App(settings=Settings(profile="prod", secret_key="b" * 40), plugins=[plugin])
bastion.include(ChannelSocket("/socket", channels={TOPIC: Fanout}, check_origin=False))


async def broadcast(payload):
    await plugin.pubsub.broadcast(TOPIC, "tick", payload, history=False)


app = wrap(bastion, broadcast)
