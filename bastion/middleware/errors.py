"""From exceptions to responses: problem+json for HTTP errors, a debug page in dev only.

``ServerErrorMiddleware`` is the outermost ASGI layer when an app has raw ASGI middleware, so
even their failures answer with a 500 instead of dropping the connection. Unexpected errors
are logged with the request id; in production their response says nothing about internals.
"""

from __future__ import annotations

import html
import logging
import traceback
from typing import Any

from bastion.exceptions import HTTPError, InternalServerError
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, ProblemResponse, Response
from bastion.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("bastion.error")


def problem_response(exc: HTTPError, instance: str | None = None) -> ProblemResponse:
    response = ProblemResponse(exc.problem(instance), exc.status_code, exc.headers or None)
    return response


def request_id_of(request: Request) -> str | None:
    state = request._state
    return getattr(state, "request_id", None) if state is not None else None


def unexpected_error(request: Request, exc: BaseException, debug: bool) -> Response:
    """Log an unhandled exception and answer 500 (with the traceback only in debug)."""
    request_id = request_id_of(request)
    logger.error(
        "Unhandled %s in %s %s (request id %s)",
        type(exc).__name__,
        request.scope.get("method"),
        request.scope.get("path"),
        request_id,
        exc_info=exc,
    )
    if debug:
        accept = request.headers.get("accept", "")
        if "text/html" in accept:
            return debug_page(request, exc)
        error = InternalServerError(
            f"{type(exc).__name__}: {exc}",
            extra={
                "traceback": traceback.format_exception(exc),
            },
        )
        return problem_response(error)
    extra = {"request_id": request_id} if request_id else None
    return problem_response(
        InternalServerError(
            "The server could not complete the request; the error has been logged",
            extra=extra,
        )
    )


def debug_page(request: Request, exc: BaseException) -> HTMLResponse:
    """A readable traceback page; only ever served when ``settings.debug`` is on."""
    frames = "".join(
        f"<div class='frame'><div class='loc'>{html.escape(f.filename)}:{f.lineno} in "
        f"<b>{html.escape(f.name)}</b></div><pre>{html.escape(f.line or '')}</pre></div>"
        for f in traceback.extract_tb(exc.__traceback__)
    )
    body = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>{html.escape(type(exc).__name__)} · Bastion debug</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}
h1{{color:#b00020}}.frame{{border-left:3px solid #ccc;margin:.5em 0;padding:.2em .8em}}
.loc{{color:#555}}pre{{background:#f6f6f6;padding:.4em;overflow:auto}}</style></head>
<body><h1>{html.escape(type(exc).__name__)}</h1><p>{html.escape(str(exc))}</p>
<p><b>{html.escape(request.method)} {html.escape(request.path)}</b></p>
<h2>Traceback</h2>{frames}
<p><small>Shown because debug is on (profile dev); it never appears in prod.</small></p>
</body></html>"""
    return HTMLResponse(body, 500)


class ServerErrorMiddleware:
    """Last line of defence around raw ASGI middleware: a 500 if nothing was sent yet."""

    def __init__(self, app: ASGIApp, debug: bool) -> None:
        self.app = app
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                logger.error("Error after the response started", exc_info=exc)
                return
            request: Any = scope.get("bastion.request") or Request(scope, receive)
            if isinstance(exc, HTTPError):
                response: Response = problem_response(exc)
            else:
                response = unexpected_error(request, exc, self.debug)
            await response(scope, receive, send)
            if scope.get("bastion.reraise_server_exceptions") and not isinstance(exc, HTTPError):
                raise
