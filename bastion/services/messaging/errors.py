"""What a publisher or requester can be told.

MessagingError
├── NoResponders        a request found no handler listening on its subject (NATS, memory)
├── RequestTimeout      no reply within the request's timeout (also a ``TimeoutError``)
└── RequestFailed       the handler answered with an error: ``status``, ``detail``, ``errors``

A handler's failures never travel as tracebacks: a bad payload is a 400 (not JSON) or a 422
(naming each field), an ``HTTPError`` raised by the handler keeps its status and detail, and
anything else is a 500 whose detail says only that the handler failed (the log has the rest).
"""

from __future__ import annotations

from typing import Any

from bastion.exceptions import BastionError, FieldError


class MessagingError(BastionError):
    """Base of the errors publishing and requesting raise."""


class NoResponders(MessagingError):
    """Nothing listens on the request's subject."""


class RequestTimeout(MessagingError, TimeoutError):
    """No reply came within the timeout (the handler may still be running)."""


class RequestFailed(MessagingError):
    """The handler answered with an error, as an HTTP handler answers with a problem."""

    def __init__(
        self, status: int, detail: str, errors: list[FieldError] | None = None, **extra: Any
    ) -> None:
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.extra = extra
        super().__init__(f"{status}: {detail}")
