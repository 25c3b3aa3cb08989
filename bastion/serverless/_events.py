"""Lambda HTTP events turned into ASGI scopes, and ASGI responses turned back into the
payload each source expects.

Four sources, told apart by the event's own fields:

    API Gateway REST (v1)     "httpMethod" and no requestContext.elb
    ALB                       requestContext.elb (multi-value mode: "multiValueHeaders")
    HTTP API (v2)             "version": "2.0"
    function URL              v2 payload, requestContext.domainName "*.lambda-url.*"

Where the app is mounted, as API Gateway says (docs/serverless.md, "Stages and custom
domains"): an HTTP API's named stage is the first segment of ``rawPath`` (``/dev/ping``);
it is taken off the path and, on the ``execute-api`` domain where clients type it, put in
``root_path`` so ``url_for`` keeps it. A REST API's ``path`` has no stage, and
``requestContext.path`` has it: the difference is the ``root_path``. A custom domain's base
path mapping is in neither event kind's path the same way, so it is an option
(``base_path``): taken off a REST API's ``path``, and the ``root_path`` of both.

Parsing does no I/O and raises :class:`EventError` naming what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import quote, unquote, urlencode

# Printable ASCII is kept as the client sent it; anything else in a path or query string is
# percent-encoded as UTF-8, what a browser sends for the same URL.
_PRINTABLE = "".join(chr(i) for i in range(0x21, 0x7F))
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")  # RFC 9110's method token

Source = Literal["rest", "http", "url", "alb"]

# Response bodies sent as text; everything else is base64 (binary, or compressed).
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/javascript",
    "application/xml",
    "application/vnd.api+json",
    "application/vnd.oai.openapi",
    "image/svg+xml",
)


class EventError(ValueError):
    """The event is not one the adapter reads, or a field of it is malformed."""


class Request:
    """One event, read: the ASGI scope, the body, and how to shape the reply."""

    __slots__ = ("body", "multi", "scope", "source")

    def __init__(self, source: Source, scope: dict[str, Any], body: bytes, multi: bool) -> None:
        self.source = source
        self.scope = scope
        self.body = body
        self.multi = multi  # ALB: reply with multiValueHeaders


def detect(event: Any) -> Source:
    """Which source sent the event; :class:`EventError` when none did."""
    if not isinstance(event, Mapping):
        raise EventError(f"the event is a {type(event).__name__}, not a JSON object")
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        raise EventError(
            "the event has no requestContext: not an API Gateway, ALB or function URL "
            "HTTP event (direct invocations and other triggers need their own handler)"
        )
    if "elb" in context:
        return "alb"
    if event.get("version") == "2.0":
        return "url" if ".lambda-url." in str(context.get("domainName", "")) else "http"
    if "httpMethod" in event:
        return "rest"
    raise EventError(
        f"unknown HTTP event shape (version {event.get('version')!r}, no httpMethod): "
        "expected an API Gateway REST or HTTP API, ALB or function URL event"
    )


def read(event: Any, base_path: str = "") -> Request:
    """The ASGI scope and body of an event; ``base_path``: a custom domain's base path
    mapping (``/v1``), or "" for none."""
    source = detect(event)
    try:
        v2 = source in ("http", "url")
        request = _read_v2(source, event) if v2 else _read_v1(source, event)
        if source == "http":
            _mount_v2(request.scope, event, base_path)
        elif source == "rest":
            _mount_v1(request.scope, event, base_path)
        return request
    except KeyError as exc:
        raise EventError(f"malformed {source} event: the field {exc} is missing") from None
    except (TypeError, AttributeError) as exc:
        raise EventError(f"malformed {source} event: {type(exc).__name__} {exc}") from None
    except UnicodeEncodeError as exc:  # a lone surrogate: JSON can carry one, no byte encodes it
        reason = f"text that is not Unicode ({exc.reason})"
        raise EventError(f"malformed {source} event: {reason}") from None


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise EventError(f"body: expected a string, got {type(body).__name__}")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EventError(
                f"body: isBase64Encoded is true but it is not base64 ({exc})"
            ) from None
    return body.encode("utf-8")


def _method(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise EventError(f"{field}: expected an HTTP method such as GET, not {value!r:.40}")
    return value


def _raw(text: str) -> bytes:
    """A path or query string as the bytes of a URL: non-ASCII percent-encoded as UTF-8."""
    return text.encode("ascii") if text.isascii() else quote(text, safe=_PRINTABLE).encode()


def _scope(
    method: str,
    path: str,
    raw_path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    client: str | None,
) -> dict[str, Any]:
    lookup = dict(headers)
    host = lookup.get(b"host", b"lambda").decode("latin-1")
    name, _, port = host.partition(":")
    scheme = lookup.get(b"x-forwarded-proto", b"https").decode("latin-1")
    if not port:
        port = lookup.get(b"x-forwarded-port", b"443" if scheme == "https" else b"80").decode()
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "server": (name, int(port) if port.isdigit() else 443),
        "client": (client, 0) if client else None,
    }


def _encode(name: str, value: Any) -> tuple[bytes, bytes]:
    return _latin1(name.lower()), _latin1(str(value))


def _latin1(text: str) -> bytes:
    """A header as bytes: Latin-1 as HTTP has it; a value beyond it (a client sent UTF-8,
    the source decoded it) as its UTF-8 bytes, as a server would have received them."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _read_v1(source: Source, event: Mapping[str, Any]) -> Request:
    multi_headers = event.get("multiValueHeaders")
    if multi_headers:
        headers = [_encode(k, v) for k, values in multi_headers.items() for v in values or ()]
    else:
        headers = [_encode(k, v) for k, v in (event.get("headers") or {}).items()]
    multi_query = event.get("multiValueQueryStringParameters")
    pairs = (
        [(k, v) for k, values in multi_query.items() for v in values or ()]
        if multi_query
        else list((event.get("queryStringParameters") or {}).items())
    )
    raw = str(event.get("path") or "/")
    if source == "alb":
        # ALB passes the path and query as the client sent them, still percent-encoded.
        path, raw_path = unquote(raw), _raw(raw)
        query = _raw("&".join(f"{k}={v}" for k, v in pairs))
        forwarded = dict(headers).get(b"x-forwarded-for", b"").decode("latin-1")
        client = forwarded.split(",")[0].strip() or None
    else:
        path, raw_path = raw, quote(raw).encode("ascii")
        query = urlencode(pairs).encode("ascii")
        client = (event["requestContext"].get("identity") or {}).get("sourceIp")
    method = _method(event["httpMethod"], "httpMethod")
    scope = _scope(method, path, raw_path, query, headers, client)
    scope["aws.event"] = event
    return Request(source, scope, _body(event), bool(multi_headers))


def _read_v2(source: Source, event: Mapping[str, Any]) -> Request:
    http = event["requestContext"]["http"]
    headers = [_encode(k, v) for k, v in (event.get("headers") or {}).items()]
    if event.get("cookies"):
        headers.append((b"cookie", _latin1("; ".join(event["cookies"]))))
    raw = str(event.get("rawPath") or http.get("path") or "/")
    query = _raw(str(event.get("rawQueryString") or ""))
    method = _method(http.get("method"), "requestContext.http.method")
    scope = _scope(method, unquote(raw), _raw(raw), query, headers, http.get("sourceIp"))
    scope["aws.event"] = event
    return Request(source, scope, _body(event), False)


def _strip(scope: dict[str, Any], prefix: str) -> bool:
    """Take ``prefix`` (a whole leading segment or segments) off the scope's path."""
    path: str = scope["path"]
    if path != prefix and not path.startswith(prefix + "/"):
        return False
    scope["path"] = path[len(prefix) :] or "/"
    raw: bytes = scope["raw_path"]
    encoded = prefix.encode("ascii")
    if raw == encoded or raw.startswith(encoded + b"/"):
        scope["raw_path"] = raw[len(encoded) :] or b"/"
    return True


def _stage(context: Mapping[str, Any]) -> str | None:
    stage = context.get("stage")
    if not isinstance(stage, str) or not stage or stage == "$default" or not stage.isascii():
        return None
    return stage


def _mount_v2(scope: dict[str, Any], event: Mapping[str, Any], base_path: str) -> None:
    """A named stage leads ``rawPath``: off the path; ``root_path`` where clients type it
    (the ``execute-api`` domain; on a custom domain they type the mapping's base path)."""
    context = event["requestContext"]
    stage = _stage(context)
    stripped = stage is not None and "/" not in stage and _strip(scope, f"/{stage}")
    if base_path:
        scope["root_path"] = base_path
    elif stripped and ".execute-api." in str(context.get("domainName", "")):
        scope["root_path"] = f"/{stage}"


def _mount_v1(scope: dict[str, Any], event: Mapping[str, Any], base_path: str) -> None:
    """``path`` has no stage; ``requestContext.path`` is the path the client asked for, so
    what it has before ``path`` is the ``root_path``. A base path mapping leads ``path``."""
    if base_path and _strip(scope, base_path):
        scope["root_path"] = base_path
        return
    asked = event["requestContext"].get("path")
    path = str(event.get("path") or "/")
    if isinstance(asked, str) and asked != path and asked.endswith(path):
        prefix = asked[: len(asked) - len(path)]
        if prefix.startswith("/") and prefix.isascii() and not prefix.endswith("/"):
            scope["root_path"] = prefix


def check_base_path(base_path: str) -> str:
    """``"/v1"`` as given; "" and "/" mean none. Anything else is a ConfigurationError."""
    from bastion.exceptions import ConfigurationError

    if base_path in ("", "/"):
        return ""
    if (
        not base_path.startswith("/")
        or base_path.endswith("/")
        or not all(c in _PRINTABLE for c in base_path)
        or "?" in base_path
        or "#" in base_path
    ):
        raise ConfigurationError(
            f"lambda_handler(base_path={base_path!r}): give the custom domain's base path "
            "mapping as it starts the URL, e.g. '/v1' (or '' for none)"
        )
    return base_path


def _is_text(headers: list[tuple[str, str]]) -> bool:
    content_type = encoding = ""
    for name, value in headers:
        if name == "content-type":
            content_type = value.lower()
        elif name == "content-encoding":
            encoding = value.lower()
    if encoding and encoding != "identity":
        return False
    return not content_type or content_type.startswith(TEXT_TYPES)


def reply(
    request: Request, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes
) -> dict[str, Any]:
    """The payload the source expects for one ASGI response."""
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw_headers]
    text = _is_text(headers)
    try:
        payload = body.decode("utf-8") if text else None
    except UnicodeDecodeError:
        payload = None
    out: dict[str, Any] = {
        "statusCode": status,
        "body": payload if payload is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": payload is None,
    }
    if request.source in ("http", "url"):
        cookies = [v for k, v in headers if k == "set-cookie"]
        joined: dict[str, str] = {}
        for name, value in headers:
            if name != "set-cookie":
                joined[name] = f"{joined[name]}, {value}" if name in joined else value
        out["headers"] = joined
        if cookies:
            out["cookies"] = cookies
        return out
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name, []).append(value)
    if request.source == "alb":
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        out["statusDescription"] = f"{status} {phrase}".strip()
        if request.multi:
            out["multiValueHeaders"] = grouped
        else:
            # One value per name in this mode: repeated Set-Cookie needs multi-value mode.
            out["headers"] = {
                k: v[-1] if k == "set-cookie" else ", ".join(v) for k, v in grouped.items()
            }
        return out
    out["headers"] = {k: v[0] for k, v in grouped.items() if len(v) == 1}
    out["multiValueHeaders"] = {k: v for k, v in grouped.items() if len(v) > 1}
    return out


def problem(
    status: int, detail: str, source: Source = "rest", multi: bool = False
) -> dict[str, Any]:
    """An RFC 9457 reply shaped for the source (v1 when unknown: every source reads it)."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body["detail"] = detail
    request = Request(source, {}, b"", multi)
    headers = [(b"content-type", b"application/problem+json")]
    return reply(request, status, headers, json.dumps(body).encode())
