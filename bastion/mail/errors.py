"""The mail battery's errors.

ValueError
└── InvalidMessage              the message cannot be sent as written (no recipient, no body)
    └── InvalidAddress          an address is not one (also a 422 ``ValidationError``)
BastionError
└── MailError
    └── DeliveryError           the transport could not hand the message over
        └── MailAuthenticationError   the SMTP server refused the login

Both ``InvalidMessage`` kinds are raised by ``Mailer.send`` before the transport is touched.
``InvalidAddress`` is also a ``ValidationError``: when it escapes a handler, the client gets a
422 naming the message field (``to[1]``), never a 500.
"""

from __future__ import annotations

from bastion.exceptions import BastionError, FieldError, ValidationError


class InvalidMessage(ValueError):
    """The message cannot be sent as written; the text says what to change."""


class InvalidAddress(ValidationError, InvalidMessage):
    """``field`` (``to[1]``, ``sender``) does not hold an e-mail address."""

    def __init__(self, field: str, value: object, why: str = "is not a valid e-mail address"):
        self.field = field
        self.value = value
        shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
        error: FieldError = {"field": field, "reason": "must be a valid e-mail address"}
        super().__init__([error], f"{field}: {shown} {why}")


class MailError(BastionError):
    """Sending mail failed."""


class DeliveryError(MailError):
    """The transport could not hand the message to the server. ``code`` is the SMTP reply
    code when the server gave one; ``temporary`` says whether trying later may succeed (a
    4xx reply, a timeout, a dropped connection), which is what a queued send retries on."""

    def __init__(self, message: str, *, code: int | None = None, temporary: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.temporary = temporary


class MailAuthenticationError(DeliveryError):
    """The SMTP server refused the user name and password of the mail URL."""
