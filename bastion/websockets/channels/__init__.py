"""Phoenix channels: topics, pushes, replies, broadcasts and presence over one WebSocket.

Speaks the Phoenix V2 wire protocol, so the official ``phoenix`` JS client connects as it is.
See docs/channels.md.
"""

from bastion.websockets.channels.channel import Channel, ChannelError, on
from bastion.websockets.channels.socket import ChannelSocket, SocketLimits, phoenix_token

__all__ = ["Channel", "ChannelError", "ChannelSocket", "SocketLimits", "on", "phoenix_token"]
