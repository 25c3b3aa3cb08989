"""Signed webhooks: what a sender signs and a receiver verifies.

Each delivery is a JSON ``POST`` with these headers (Stripe's scheme):

    Bastion-Signature: t=1733650000,v1=5257a869e7ec...8d8bd   (64 hex digits)
    Bastion-Webhook-Id: 3f2a...        (the notification's id: the same on every retry)

``v1`` is the hex HMAC-SHA256, under the endpoint's secret, of ``"<t>.<body>"``: the
timestamp is signed with the body, so a captured request cannot be replayed later than the
receiver's tolerance, and the body cannot be changed. A receiver calls ``verify_webhook``.

    @app.post("/hooks/bastion")
    async def receive(request: Request) -> None:
        event = verify_webhook(SECRET, request.headers, await request.body())   # or a 400
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec

from bastion.exceptions import BadRequest

SIGNATURE_HEADER = "Bastion-Signature"
ID_HEADER = "Bastion-Webhook-Id"
_MAX_HEADER = 4096  # a signature header longer than this is refused before it is parsed

Secret = str | bytes


@dataclass(frozen=True)
class Webhook:
    """One webhook delivery: ``data`` (JSON) POSTed to ``url``, signed with ``secret``.

    The body is ``{"id", "type", "created_at", "data"}``: the notification's id and type, when
    it was made (ISO 8601, UTC), and this ``data``. The secret travels with the queued job,
    so it is stored where the jobs are (the app's database or Redis).
    """

    url: str
    secret: str
    data: Any = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Webhook(url={self.url!r}): give an absolute http:// or https:// URL")
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError("Webhook(secret=...): give the endpoint's secret (text)")


class InvalidWebhook(BadRequest):
    """A delivery that ``verify_webhook`` refuses: no or malformed signature header, a
    timestamp outside the tolerance, or a signature that does not match. A 400 when it
    escapes a handler, with the reason (never the expected signature)."""

    title = "Invalid webhook"


class WebhookDeliveryError(Exception):
    """The receiver did not answer 2xx; the job is retried with backoff."""


def sign_webhook(secret: Secret, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The ``Bastion-Signature`` header for ``body`` at ``timestamp`` (now by default)."""
    when = int(time.time()) if timestamp is None else int(timestamp)
    return {SIGNATURE_HEADER: f"t={when},v1={_digest(_key(secret), when, _bytes(body))}"}


def verify_webhook(
    secret: Secret | Sequence[Secret],
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: float = 300,
    *,
    now: float | None = None,
) -> Any:
    """The delivery's JSON body, once its signature is checked; else ``InvalidWebhook``.

    ``headers`` is the request's headers (any mapping; names are matched without regard to
    case), ``body`` its raw bytes, exactly as received. A timestamp more than ``tolerance``
    seconds away from now (either way) is refused as stale. Several secrets may be given
    while one replaces another. Signatures are compared in constant time.
    """
    header = _header(headers, SIGNATURE_HEADER)
    if header is None:
        raise InvalidWebhook(f"The request has no {SIGNATURE_HEADER} header")
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidWebhook(
            f"The {SIGNATURE_HEADER} timestamp is {abs(current - timestamp):.0f} s away from "
            f"now, more than the {tolerance:g} s allowed: a replay, or a clock out of sync"
        )
    raw = _bytes(body)
    keys = [secret] if isinstance(secret, str | bytes) else list(secret)
    if not keys:
        raise ValueError("verify_webhook needs the endpoint's secret")
    matched = False
    for key in keys:
        expected = _digest(_key(key), timestamp, raw).encode()
        for candidate in signatures:  # every comparison runs: no early exit to time
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidWebhook(f"The {SIGNATURE_HEADER} signature does not match the body")
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidWebhook("The webhook's body is not JSON") from None


def _parse(header: str) -> tuple[int, list[bytes]]:
    if len(header) > _MAX_HEADER:
        raise InvalidWebhook(f"The {SIGNATURE_HEADER} header is too long")
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value.isascii():
            signatures.append(value.encode())
    if timestamp is None or not signatures:
        raise InvalidWebhook(
            f"The {SIGNATURE_HEADER} header is malformed: expected t=<unix time>,v1=<hex>"
        )
    return timestamp, signatures


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(key, b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def _key(secret: Secret) -> bytes:
    if not isinstance(secret, str | bytes) or not secret:
        raise ValueError("a webhook secret is non-empty text or bytes")
    return secret.encode() if isinstance(secret, str) else secret


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


def delivery_headers(secret: Secret, body: bytes, delivery_id: str) -> dict[str, str]:
    """Every header one attempt sends, signed now (each retry gets a fresh timestamp)."""
    return {
        "content-type": "application/json",
        "user-agent": "Bastion-Webhooks/1",
        ID_HEADER: delivery_id,
        **sign_webhook(secret, body),
    }


def check_answer(url: str, status: int) -> None:
    """A 2xx is delivered; anything else (a redirect too) is an error that gets retried."""
    if not 200 <= status < 300:
        raise WebhookDeliveryError(f"POST {_safe(url)} answered {status}; it will be retried")


def _safe(url: str) -> str:
    """The URL without its query or credentials, for errors and logs (they may hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def body_of(notification_id: str, kind: str, created_at: datetime, data: Any) -> bytes:
    """The JSON body of a delivery (``created_at`` written as ISO 8601 in UTC)."""
    from bastion.http.response import encode_json

    return encode_json(
        {"id": notification_id, "type": kind, "created_at": created_at, "data": data}
    )
