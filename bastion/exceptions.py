"""Bastion's errors.

BastionError
├── ConfigurationError          raised at start-up; the message says what to change
└── HTTPError                   turned into an RFC 9457 problem+json response
    ├── BadRequest (400)
    │   └── MalformedBody (400)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── MethodNotAllowed (405)
    ├── NotAcceptable (406)
    ├── Conflict (409)
    ├── Gone (410)
    ├── PreconditionFailed (412)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── RangeNotSatisfiable (416)
    ├── ValidationError (422)    lists each failing field with its location and reason
    ├── TooManyRequests (429)
    ├── HeaderFieldsTooLarge (431)
    ├── InternalServerError (500)
    └── ServiceUnavailable (503)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, NotRequired, TypedDict

from bastion.i18n import gettext, ngettext


class BastionError(Exception):
    """Base of every error Bastion raises on purpose."""


class ConfigurationError(BastionError):
    """The application is set up wrongly; raised at start-up, never per request."""


class FieldError(TypedDict):
    """One failing field: where it is (``query.limit``, ``body.tags[2]``) and why it failed,
    as a sentence about the field (``must be at least 1``). The optional keys are for
    programs: the JSON Schema keyword that failed (``minimum``), its value (``1``), the JSON
    type sent instead of the expected one, and an RFC 6901 pointer into a JSON body."""

    field: str
    reason: str
    constraint: NotRequired[str]
    expected: NotRequired[Any]
    got: NotRequired[str]
    pointer: NotRequired[str]


class HTTPError(BastionError):
    """An error with an HTTP status; the app renders it as ``application/problem+json``.

    ``detail`` is shown to the client, so it must not leak internals. ``extra`` members are
    merged into the problem document (RFC 9457 extension members).
    """

    status_code: ClassVar[int] = 500

    def __init__(
        self,
        detail: str | None = None,
        *,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        type: str = "about:blank",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if status_code is not None:
            self.status_code = status_code  # type: ignore[misc]
        self.title = HTTPStatus(self.status_code).phrase
        self.detail = detail if detail is not None else self.title
        self.headers = dict(headers) if headers else {}
        self.type = type
        self.extra = dict(extra) if extra else {}
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document for this error, its title (and a detail that is a
        catalog message) in the current locale."""
        doc: dict[str, Any] = {
            "type": self.type,
            "title": gettext(self.title),
            "status": self.status_code,
            "detail": gettext(self.detail) if self.detail else self.detail,
        }
        if instance is not None:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status_code}, {self.detail!r})"


class BadRequest(HTTPError):
    status_code = 400


class MalformedBody(BadRequest):
    """The body could not be parsed at all (bad JSON, bad UTF-8, broken multipart)."""


class Unauthorized(HTTPError):
    status_code = 401


class Forbidden(HTTPError):
    status_code = 403


class NotFound(HTTPError):
    status_code = 404


class MethodNotAllowed(HTTPError):
    status_code = 405

    def __init__(self, allowed: Sequence[str], detail: str | None = None) -> None:
        allow = ", ".join(sorted(allowed))
        super().__init__(
            detail or f"Method not allowed; use one of: {allow}", headers={"allow": allow}
        )


class NotAcceptable(HTTPError):
    status_code = 406


class Conflict(HTTPError):
    status_code = 409


class Gone(HTTPError):
    status_code = 410


class PreconditionFailed(HTTPError):
    status_code = 412


class PayloadTooLarge(HTTPError):
    status_code = 413


class UnsupportedMediaType(HTTPError):
    status_code = 415


class RangeNotSatisfiable(HTTPError):
    status_code = 416


class ValidationError(HTTPError):
    """Request data failed validation: ``errors`` names each field and the reason."""

    status_code = 422

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else None
        summary = f"{first['field']}: {first['reason']}" if first else gettext("Invalid request")
        if len(self.errors) > 1:
            more = len(self.errors) - 1
            summary += ngettext(" (and %(num)s more)", " (and %(num)s more)", more, num=more)
        super().__init__(detail or summary, extra={"errors": self.errors})


class TooManyRequests(HTTPError):
    status_code = 429


class HeaderFieldsTooLarge(HTTPError):
    status_code = 431


class InternalServerError(HTTPError):
    status_code = 500


class ServiceUnavailable(HTTPError):
    status_code = 503
