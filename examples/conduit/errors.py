"""Errors in the RealWorld shape, ``{"errors": {"<field>": ["<message>"]}}``.

Bastion answers errors with RFC 9457 problem+json; the RealWorld spec has its own shape, so
this app registers exception handlers that translate every error it can meet (its own
``ApiError``, the framework's validation errors, 401s from the token check, unknown routes)
into that shape. The framework's default stays untouched for every other app.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError

from bastion import HTTPError, JSONResponse, Request, Unauthorized, ValidationError
from bastion.exceptions import MalformedBody

from .schemas import NOT_BLANK

BLANK = "can't be blank"
TAKEN = "has already been taken"
#: The objects that wrap request bodies; ``body.user.email`` is reported as ``email``.
WRAPPERS = frozenset({"user", "article", "comment"})


class Errors(msgspec.Struct):
    """The spec's error body: ``{"errors": {"title": ["can't be blank"]}}``."""

    errors: dict[str, list[str]]


#: What any route with a JSON body can answer: bad bytes, too large, not JSON, invalid.
BODY_ERRORS = (400, 413, 415, 422)


def documented(*status_codes: int) -> dict[int, Any]:
    """``responses=`` for a route: its error statuses with the spec's body, in place of the
    problem+json Bastion's OpenAPI document shows by default."""
    return dict.fromkeys(status_codes, Errors)


class ApiError(HTTPError):
    """An error with the spec's field → messages mapping, raised by the routes."""

    def __init__(self, status_code: int, errors: dict[str, list[str]]) -> None:
        super().__init__(status_code=status_code)
        self.errors = errors


def not_found(resource: str) -> ApiError:
    return ApiError(404, {resource: ["not found"]})


def forbidden(resource: str) -> ApiError:
    return ApiError(403, {resource: ["forbidden"]})


def taken(*fields: str) -> ApiError:
    return ApiError(409, {field: [TAKEN] for field in fields})


def errors_response(
    status_code: int, errors: dict[str, list[str]], exc: HTTPError | None = None
) -> JSONResponse:
    headers = exc.headers if exc is not None else None
    return JSONResponse({"errors": errors}, status_code=status_code, headers=headers)


async def api_error(request: Request, exc: ApiError) -> JSONResponse:
    return errors_response(exc.status_code, exc.errors, exc)


async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
    """No token, a token of another scheme, a bad or expired one, or one whose user is gone:
    the spec answers them all alike (the ``WWW-Authenticate`` challenge is kept)."""
    return errors_response(401, {"token": ["is missing"]}, exc)


async def invalid(request: Request, exc: ValidationError | MalformedBody) -> JSONResponse:
    """The framework's field errors (``body.user.email``: is required) in the spec's words.
    Malformed JSON is a 422 too, as the spec wants."""
    found: dict[str, list[str]] = {}
    for error in exc.extra.get("errors") or [{"field": "body", "reason": exc.detail}]:
        message = "is invalid" if isinstance(exc, MalformedBody) else _message(error)
        found.setdefault(_field(error["field"]), []).append(message)
    return errors_response(422, found)


async def http_error(request: Request, exc: HTTPError) -> JSONResponse:
    """Anything else (unknown route 404, 405, 413, 415): its status, the detail as ``body``."""
    detail = "not found" if exc.status_code == 404 else exc.detail
    return errors_response(exc.status_code, {"body": [detail]}, exc)


async def conflict(request: Request, exc: IntegrityError) -> JSONResponse:
    """A uniqueness race the routes' own checks could not see (two requests at once)."""
    return errors_response(409, {"body": [TAKEN]})


def _field(location: str) -> str:
    parts = location.split(".")[1:] or ["body"]
    if len(parts) > 1 and parts[0] in WRAPPERS:
        parts = parts[1:]
    name = parts[0].split("[", 1)[0]
    return name or "body"


def _message(error: Any) -> str:
    """Read from the error's ``constraint`` (and ``expected``, ``got``), not its sentence."""
    constraint, expected = error.get("constraint"), error.get("expected")
    if constraint == "required" or error.get("got") == "null":
        return BLANK
    if (constraint, expected) in (("minLength", 1), ("pattern", NOT_BLANK)):
        return BLANK  # a "not blank" rule: min_length=1, or the NOT_BLANK pattern
    if constraint == "maxLength":
        return f"is too long (maximum is {expected} characters)"
    return "is invalid"


#: For ``App(exception_handlers=...)``; ``IntegrityError`` here wins over the database
#: plugin's own problem+json answer.
EXCEPTION_HANDLERS: dict[type[BaseException], Any] = {
    ApiError: api_error,
    Unauthorized: unauthorized,
    ValidationError: invalid,
    MalformedBody: invalid,
    HTTPError: http_error,
    IntegrityError: conflict,
}
