"""AI and ML: models served in micro-batches (``serving``), token streams over chunked HTTP,
SSE and the OpenAI chat-completions shape (``streaming``), and routes as MCP tools
(``bastion.ai.mcp``, imported on its own: it needs the ``mcp`` extra)."""

from bastion.ai.serving import ModelBusy, ModelFailed, ModelStats, ModelTimeout, ServedModel
from bastion.ai.streaming import (
    ChatMessage,
    ChatRequest,
    ContentPart,
    chat_completion,
    chat_completion_chunks,
    chat_completion_stream,
    stream_events,
    stream_text,
)

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ContentPart",
    "ModelBusy",
    "ModelFailed",
    "ModelStats",
    "ModelTimeout",
    "ServedModel",
    "chat_completion",
    "chat_completion_chunks",
    "chat_completion_stream",
    "stream_events",
    "stream_text",
]
