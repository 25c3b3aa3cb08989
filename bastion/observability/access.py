"""Who may see details: a bearer token, a callable, or (with neither) the dev profile only.

Health endpoints answer everyone with a bare status; detail, ``/info`` and the log-level
endpoint need an authorised caller, because they show versions, errors and configuration.
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable

from bastion.exceptions import ConfigurationError
from bastion.http.headers import raw_header
from bastion.http.request import Request

Authorize = Callable[[Request], bool | Awaitable[bool]]
_MIN_TOKEN_LENGTH = 16


class Access:
    """Decides whether a request may see management detail.

    ``token``: callers send ``Authorization: Bearer <token>``. ``authorize``: your own check
    (e.g. an admin session). With neither, only the ``dev`` profile is authorised.
    """

    def __init__(
        self, token: str | None, authorize: Authorize | None, *, open_by_default: bool
    ) -> None:
        if token is not None and len(token) < _MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"The management token has {len(token)} characters; use at least "
                f"{_MIN_TOKEN_LENGTH}, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        self._expected = f"Bearer {token}".encode() if token else None
        self._authorize = authorize
        self._open = open_by_default and token is None and authorize is None

    async def allows(self, request: Request) -> bool:
        if self._open:
            return True
        if self._expected is not None:
            sent = raw_header(request.scope["headers"], b"authorization")
            if sent is not None and hmac.compare_digest(sent, self._expected):
                return True
        if self._authorize is not None:
            result = self._authorize(request)
            return bool(await result if inspect.isawaitable(result) else result)
        return False
