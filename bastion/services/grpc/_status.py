"""Exceptions become gRPC statuses: Bastion's HTTP errors by their status, validation errors
as INVALID_ARGUMENT naming each field, anything unexpected as INTERNAL with nothing inside.

The field errors travel in the trailing metadata ``bastion-errors-bin``: the JSON list a
problem+json body carries in ``errors`` (``[{"field": "name", "reason": "..."}]``), so one
client-side helper reads both. Headers of an HTTP error (``www-authenticate``,
``retry-after``) become trailing metadata too.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc  # type: ignore[import-untyped]
import msgspec

from bastion.exceptions import HTTPError, ValidationError

logger = logging.getLogger("bastion.error")

#: Trailing metadata holding the JSON list of field errors.
ERRORS_KEY = "bastion-errors-bin"

Code = Any  # a grpc.StatusCode (grpcio ships no type information)

#: HTTP statuses, as the gRPC and Google API guides pair them.
BY_HTTP_STATUS: dict[int, Code] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    410: grpc.StatusCode.NOT_FOUND,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    416: grpc.StatusCode.OUT_OF_RANGE,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

_encode = msgspec.json.encode


def code_of_http(status: int) -> Code:
    """The gRPC code for an HTTP status: the table, else FAILED_PRECONDITION for other 4xx
    (the caller must change something) and INTERNAL for the rest."""
    found = BY_HTTP_STATUS.get(status)
    if found is not None:
        return found
    return grpc.StatusCode.FAILED_PRECONDITION if 400 <= status < 500 else grpc.StatusCode.INTERNAL


def status_of(
    exc: Exception, *, method: str, request_id: str | None, debug: bool
) -> tuple[Code, str, tuple[tuple[str, str | bytes], ...]]:
    """The code, details and trailing metadata ``exc`` is answered with (logged when it is
    unexpected: the client then learns only that something failed, and the request id)."""
    if isinstance(exc, HTTPError):
        trailers: list[tuple[str, str | bytes]] = [
            (name.lower(), value) for name, value in exc.headers.items() if value.isascii()
        ]
        if isinstance(exc, ValidationError):
            trailers.append((ERRORS_KEY, _encode(exc.errors)))
        return code_of_http(exc.status_code), str(exc.detail), tuple(trailers)
    logger.error(
        "Unhandled %s in gRPC %s (request id %s)",
        type(exc).__name__,
        method,
        request_id,
        exc_info=exc,
    )
    details = "Internal server error"
    if debug:  # the type and message, never the traceback: that stays in the log
        details += f": {type(exc).__name__}: {exc}"
    if request_id is not None:
        details += f" (request id {request_id})"
    return grpc.StatusCode.INTERNAL, details, ()
