"""The app's answer to a tool call or resource read, as MCP says it.

A tool that ran and answered 2xx gives its body as content (JSON also as
``structuredContent``); one the app refused (401, 403, 422, 429…) gives a result with
``isError`` and the problem document as its text, so the model can read what to change. A
resource has no such result: a refusal is a JSON-RPC error carrying the problem. Nothing
here passes on a traceback: the app's own error handling has already turned exceptions
into problem documents, and a 500 says no more than its title.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from bastion.ai.mcp._dispatch import Captured


def tool_result(captured: Captured, tool: str, max_bytes: int) -> types.CallToolResult:
    problem = _trouble(captured, tool, max_bytes)
    if problem is not None:
        return error_result(problem)
    media = captured.header(b"content-type")
    body = bytes(captured.body)
    if not body:
        return types.CallToolResult(content=[])
    if _is_json(media):
        text = body.decode("utf-8", "replace")
        data = _json(text)
        structured = data if isinstance(data, dict) else None
        block = types.TextContent(type="text", text=text)
        return types.CallToolResult(content=[block], structured_content=structured)
    if media.startswith("text/"):
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=body.decode("utf-8", "replace"))]
        )
    encoded = base64.b64encode(body).decode("ascii")
    if media.startswith("image/"):
        image = types.ImageContent(type="image", data=encoded, mime_type=_bare(media))
        return types.CallToolResult(content=[image])
    blob = types.BlobResourceContents(uri=f"tool://{tool}", mime_type=_bare(media), blob=encoded)
    return types.CallToolResult(content=[types.EmbeddedResource(type="resource", resource=blob)])


def error_result(problem: dict[str, Any]) -> types.CallToolResult:
    text = json.dumps(problem, ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def resource_contents(
    captured: Captured, uri: str, max_bytes: int
) -> list[types.TextResourceContents | types.BlobResourceContents]:
    problem = _trouble(captured, uri, max_bytes)
    if problem is not None:
        code = types.INVALID_PARAMS if problem.get("status") == 404 else types.INTERNAL_ERROR
        if problem.get("status") in (400, 401, 403, 422, 429):
            code = types.INVALID_REQUEST
        raise MCPError(code, str(problem.get("detail") or problem.get("title")), problem)
    media = _bare(captured.header(b"content-type")) or "application/octet-stream"
    body = bytes(captured.body)
    if _is_json(media) or media.startswith("text/"):
        text = body.decode("utf-8", "replace")
        return [types.TextResourceContents(uri=uri, mime_type=media, text=text)]
    blob = base64.b64encode(body).decode("ascii")
    return [types.BlobResourceContents(uri=uri, mime_type=media, blob=blob)]


def _trouble(captured: Captured, what: str, max_bytes: int) -> dict[str, Any] | None:
    """The problem document of an answer that is not a usable result, else None."""
    if captured.timed_out:
        return {"title": "Timed out", "status": 504, "detail": f"{what} did not answer in time"}
    if captured.overflow:
        detail = f"{what} answered more than {max_bytes} bytes, the most a result may hold"
        return {"title": "Result too large", "status": 502, "detail": detail}
    if captured.status < 300:
        return None
    if captured.status < 400:
        location = captured.header(b"location")
        detail = f"{what} answered a redirect ({captured.status}) to {location or 'nowhere'}"
        return {"title": "Redirected", "status": captured.status, "detail": detail}
    found = _json(bytes(captured.body).decode("utf-8", "replace"))
    if isinstance(found, dict) and "title" in found:
        problem: dict[str, Any] = found
        retry = captured.header(b"retry-after")
        if retry and "retry_after" not in problem:
            problem["retry_after"] = retry
        return problem
    return {"title": "Error", "status": captured.status}


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _is_json(media: str) -> bool:
    bare = _bare(media)
    return bare == "application/json" or bare.endswith("+json")


def _bare(media: str) -> str:
    return media.partition(";")[0].strip().lower()
