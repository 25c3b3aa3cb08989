"""Content negotiation: the response's media type chosen by ``Accept``, bodies read by
``Content-Type``, among the encoders an app registers.

``App(encoders=[JSON_ENCODER, MSGPACK_ENCODER])`` turns it on; the first encoder is the
default (no ``Accept``, or ``*/*``). An app that keeps JSON only compiles none of this: its
handlers encode JSON directly, as before. With negotiation, a handler's data leaves the
compiled endpoint unencoded (``PendingResponse``) and ``Negotiation.wrap`` encodes it with the
encoder the request's ``Accept`` chose, decided before the handler runs (a 406 runs nothing).
Parsed ``Accept`` values are cached, so a client sending the same header pays one dict hit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bastion.exceptions import ConfigurationError, NotAcceptable
from bastion.http.headers import raw_header
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response, _enc_hook, encode_json
from bastion.types import Endpoint

Decoder = Callable[[bytes], Any]


@dataclass(frozen=True)
class Encoder:
    """A media type the app can answer in and read bodies in.

    ``encode(value) -> bytes``; ``decoder(type) -> (bytes -> value)``, built once per route
    for the body's type, raising ``msgspec.ValidationError`` for a wrong field (a 422) and
    any other ``ValueError`` for a malformed body (a 400). ``aliases`` are other names of the
    same type that requests may use (``application/x-msgpack``).
    """

    media_type: str
    encode: Callable[[Any], bytes]
    decoder: Callable[[Any], Decoder]
    aliases: tuple[str, ...] = ()
    name: str = field(default="", compare=False)

    def response(self, pending: PendingResponse) -> Response:
        response = Response(self.encode(pending.content), pending.status_code)
        headers = response.raw_headers
        headers.append((b"content-type", self.media_type.encode("latin-1")))
        headers.append(_VARY)
        headers.extend(pending.raw_headers)
        return response


def _json_decoder(target: Any) -> Decoder:
    return msgspec.json.Decoder(target).decode


def _msgpack_decoder(target: Any) -> Decoder:
    return msgspec.msgpack.Decoder(target).decode


JSON_ENCODER = Encoder("application/json", encode_json, _json_decoder, name="JSON")
MSGPACK_ENCODER = Encoder(
    "application/msgpack",
    msgspec.msgpack.Encoder(enc_hook=_enc_hook).encode,
    _msgpack_decoder,
    aliases=("application/x-msgpack", "application/vnd.msgpack"),
    name="MessagePack",
)
_VARY = (b"vary", b"accept")


class PendingResponse(Response):
    """A handler's data with its status and headers, waiting for the negotiated encoder."""

    __slots__ = ("content",)

    def __init__(self, content: Any, status_code: int = 200) -> None:
        self.content = content
        self.status_code = status_code
        self.body = b""
        self.raw_headers = []


@dataclass(frozen=True)
class MediaRange:
    type: str  # "application/json", "application/*", "*/*"
    q: float
    params: dict[str, str]


def parse_accept(value: str) -> list[MediaRange]:
    """``Accept`` as media ranges with their q-values (a malformed q counts as 0)."""
    ranges = []
    for part in value.split(","):
        media, *raw_params = part.split(";")
        media = media.strip().lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for raw in raw_params:
            name, _, text = raw.partition("=")
            params[name.strip().lower()] = text.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        ranges.append(MediaRange(media, q if 0 <= q <= 1 else 0.0, params))
    return ranges


def _specificity(pattern: str, media: str) -> int:
    """How precisely ``pattern`` names ``media``: 3 exact, 2 ``type/*``, 1 ``*/*``, 0 not."""
    if pattern == media:
        return 3
    if pattern == "*/*":
        return 1
    kind, _, sub = pattern.partition("/")
    return 2 if sub == "*" and media.startswith(kind + "/") else 0


class Negotiation:
    """The encoders of one app, compiled once: choosing, wrapping endpoints, reading bodies."""

    def __init__(self, encoders: Sequence[Encoder]) -> None:
        seen: dict[str, Encoder] = {}
        for index, encoder in enumerate(encoders):
            if not isinstance(encoder, Encoder):
                raise ConfigurationError(
                    f"App(encoders=...) item {index} is {encoder!r}; use bastion.JSON_ENCODER, "
                    "bastion.MSGPACK_ENCODER or an Encoder(media_type, encode, decoder)"
                )
            for media in (encoder.media_type, *encoder.aliases):
                if media in seen:
                    raise ConfigurationError(
                        f"App(encoders=...) names {media!r} twice; keep one encoder per type"
                    )
                seen[media] = encoder
        self.encoders = list(encoders)
        self.by_media = seen
        self.media_types = [e.media_type for e in self.encoders]
        self._cache: dict[bytes, Encoder | None] = {}

    def choose(self, accept: bytes | None) -> Encoder | None:
        """The encoder ``Accept`` prefers (highest q, then most specific range, then the
        app's order); None when it accepts none of them."""
        if accept is None:
            return self.encoders[0]
        try:
            return self._cache[accept]
        except KeyError:
            pass
        ranges = parse_accept(accept.decode("latin-1"))
        best: tuple[float, int, int] = (0.0, 0, 0)
        chosen: Encoder | None = None if ranges else self.encoders[0]
        for order, encoder in enumerate(self.encoders):
            for media in (encoder.media_type, *encoder.aliases):
                # The most specific range naming this type sets its q (RFC 9110 12.5.1).
                matches = [(_specificity(r.type, media), r.q) for r in ranges]
                precise, q = max(matches, default=(0, 0.0))
                if precise and q > 0 and (q, precise, -order) > best:
                    best, chosen = (q, precise, -order), encoder
        if len(self._cache) < 512:
            self._cache[accept] = chosen
        return chosen

    def not_acceptable(self, accept: bytes | None) -> Response:
        sent = (accept or b"").decode("latin-1")
        error = NotAcceptable(
            f"None of the accepted media types ({sent}) can be produced; this API answers in "
            + ", ".join(self.media_types),
            extra={"available": self.media_types},
        )
        return ProblemResponse(error.problem(), 406)

    def wrap(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint, answering its data in the negotiated type (406 before it runs)."""
        choose, refuse = self.choose, self.not_acceptable

        async def negotiated(request: Request) -> Response:
            accept = raw_header(request.scope["headers"], b"accept")
            encoder = choose(accept)
            if encoder is None:
                return refuse(accept)
            response = await endpoint(request)
            if type(response) is PendingResponse:
                return encoder.response(response)
            return response

        return negotiated

    def decoders(self, target: Any) -> dict[str, tuple[Encoder, Decoder]]:
        """Body decoders for ``target`` by media type, other than JSON (read as before)."""
        result: dict[str, tuple[Encoder, Decoder]] = {}
        for encoder in self.encoders:
            if encoder is JSON_ENCODER:
                continue
            decode = encoder.decoder(target)
            for media in (encoder.media_type, *encoder.aliases):
                result[media] = (encoder, decode)
        return result

    def document(self, document: dict[str, Any]) -> None:
        """List every media type wherever the OpenAPI document has JSON bodies, and 406."""
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                body = operation.get("requestBody", {}).get("content", {})
                self._add_media(body)
                responses = operation.get("responses", {})
                for status, response in responses.items():
                    if status.startswith("2"):
                        self._add_media(response.get("content", {}))
                if any(s.startswith("2") and "content" in r for s, r in responses.items()):
                    responses.setdefault(
                        "406",
                        {"description": "None of the accepted media types", "content": problem},
                    )

    def _add_media(self, content: dict[str, Any]) -> None:
        if "application/json" not in content:
            return
        schema = content["application/json"]
        for media in self.media_types:
            content.setdefault(media, schema)
