"""RequestId: give every request an id, echo it back, and let logs carry it.

An incoming id is reused only if it is short and made of safe characters, so a client cannot
inject log lines or headers through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from uuid import uuid4

from bastion.http.request import Request
from bastion.http.response import Response
from bastion.types import CallNext

_SAFE = re.compile(r"[A-Za-z0-9._\-]{1,128}")


def _new_id() -> str:
    return uuid4().hex


class RequestId:
    """Sets ``request.state.request_id`` and the ``x-request-id`` response header."""

    def __init__(
        self,
        header: str = "x-request-id",
        trust_incoming: bool = True,
        generator: Callable[[], str] = _new_id,
    ) -> None:
        self.header = header.lower()
        self.raw_header = self.header.encode("latin-1")
        self.trust_incoming = trust_incoming
        self.generator = generator

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        incoming = request.headers.get(self.header) if self.trust_incoming else None
        request_id = incoming if incoming and _SAFE.fullmatch(incoming) else self.generator()
        request.state.request_id = request_id  # type: ignore[attr-defined]
        response = await call_next(request)
        response.raw_headers.append((self.raw_header, request_id.encode("latin-1")))
        return response
