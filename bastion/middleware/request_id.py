"""RequestId: give every request an id, echo it in the response, and let logs carry it.

The id is stored on ``request.state.request_id``, where the error handler picks it up for
its log line and the 500 body. An incoming id (from a load balancer or the calling service)
is reused so one id follows the request across services, but only if it is at most 128
characters from ``A-Z a-z 0-9 . _ ~ : + / = @ -``; anything else is replaced by a fresh id,
so a client cannot inject log lines, extra headers or megabytes of text through it. Set
``trust_incoming=False`` when clients talk to the app directly and ids must be the app's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import uuid4

from bastion.exceptions import ConfigurationError
from bastion.http.headers import raw_header
from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext

_SAFE_ID = re.compile(rb"[A-Za-z0-9._~:+/=@-]{1,128}")
_TOKEN = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")


def uuid4_hex() -> str:
    """32 random hex characters, e.g. ``9f1c2e…``."""
    return uuid4().hex


class RequestId:
    """Sets ``request.state.request_id`` and the ``x-request-id`` response header.

    ``generator`` must return ASCII text; it is called only when no usable id came in.
    """

    def __init__(
        self,
        header: str = "x-request-id",
        trust_incoming: bool = True,
        generator: Callable[[], str] = uuid4_hex,
    ) -> None:
        name = header.strip().lower()
        if not _TOKEN.fullmatch(name):
            raise ConfigurationError(
                f"RequestId: {header!r} is not a valid header name; use letters, digits and "
                "dashes, e.g. 'x-request-id'"
            )
        self.header = name.encode("ascii")
        self.trust_incoming = trust_incoming
        self.generator = generator

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        raw_id: bytes | None = None
        if self.trust_incoming:
            incoming = raw_header(request.scope["headers"], self.header)
            if incoming is not None and _SAFE_ID.fullmatch(incoming):
                raw_id = incoming
        if raw_id is None:
            request_id = self.generator()
            raw_id = request_id.encode("ascii")
        else:
            request_id = raw_id.decode("ascii")
        request.state.request_id = request_id  # type: ignore[attr-defined]
        response = await call_next(request)
        response.raw_headers.append((self.header, raw_id))
        return response
