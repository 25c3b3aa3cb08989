"""From exceptions to responses: problem+json for HTTP errors, a debug page in dev only.

``ServerErrorMiddleware`` is the outermost ASGI layer when an app has raw ASGI middleware, so
even their failures answer with a 500 instead of dropping the connection. Unexpected errors
are logged with the request id; in production their response says nothing about internals.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from bastion.exceptions import HTTPError, InternalServerError
from bastion.http.request import Request
from bastion.http.response import HTMLResponse, ProblemResponse, Response, TextResponse
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
        return debug_response(request, exc)
    extra = {"request_id": request_id} if request_id else None
    return problem_response(
        InternalServerError(
            "The server could not complete the request; the error has been logged",
            extra=extra,
        )
    )


def debug_response(request: Request, exc: BaseException) -> Response:
    """The dev answer to an unexpected error, by ``Accept``: the HTML debug page for
    browsers, a problem+json document with the traceback for JSON clients, and the same
    report as plain text for everything else (``curl``). Only ever used when debug is on, so
    the page's modules are imported here, not at every start-up."""
    from bastion.middleware._debug_info import Masker, collect
    from bastion.middleware._debug_page import render_html, render_text

    accept = request.headers.get("accept", "")
    settings = getattr(request.scope.get("app"), "settings", None)
    if "json" in accept and "text/html" not in accept:
        mask = Masker(settings).text
        error = InternalServerError(
            mask(f"{type(exc).__name__}: {exc}"),
            extra={"traceback": [mask(line) for line in traceback.format_exception(exc)]},
        )
        return problem_response(error)
    info = collect(request, exc, settings)
    if "text/html" in accept:
        page, policy = render_html(info)
        return HTMLResponse(page, 500, {"content-security-policy": policy})
    return TextResponse(render_text(info), 500)


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
