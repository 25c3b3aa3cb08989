"""What the dev debug page shows, gathered from a failed request: frames, locals, request.

Only ever run for an unexpected error when ``settings.debug`` is on, so nothing here is on the
request path. Everything shown passes through one ``Masker``: values of secret-looking names
(password, token, key, authorization, cookie...) and the settings' own secret values are
replaced wherever they appear, and every ``repr`` is bounded and may fail without harm.
"""

from __future__ import annotations

import json
import linecache
import os
import platform
import re
import reprlib
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bastion.http.request import Request

MASK = "********"
#: Names whose values are never shown (locals, headers, query and body fields, settings).
SECRET_NAME = re.compile(
    r"passw(or)?d|passphrase|pwd|secret|token|key|auth(?!or(?!i[sz]ation))|cookie|credential|session|csrf|"
    r"signature",
    re.I,
)
#: ``password='...'``, ``"token": "..."`` inside a repr or a message.
_SECRET_FIELD = re.compile(
    r"(\b\w*(?:" + SECRET_NAME.pattern + r""")\w*['"]?\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s,;&)}\]]+)""",
    re.I,
)
CONTEXT_LINES = 5
REPR_LIMIT = 400
BODY_PREVIEW = 2048
MAX_FRAMES = 60
MAX_LOCALS = 60
MAX_CHAIN = 8


@dataclass
class Frame:
    filename: str
    lineno: int
    function: str
    first_line: int  # the number of lines[0]
    lines: list[str]
    locals: list[tuple[str, str]]
    library: bool  # a frame of Bastion, Python or an installed package, shown folded


@dataclass
class ErrorInfo:
    type_name: str
    message: str
    frames: list[Frame]
    relation: str = ""  # how it leads to the next one: "cause" or "context"


@dataclass
class DebugInfo:
    """Everything the page (HTML or text) renders: the chain, outermost exception first."""

    errors: list[ErrorInfo]
    request: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    cookies: list[tuple[str, str]]
    body: str
    route: list[tuple[str, str]]
    app: list[tuple[str, str]] = field(default_factory=list)


class Masker:
    """Replaces the settings' secret values in any text, and masks values by their name."""

    def __init__(self, settings: Any) -> None:
        found: set[str] = set()
        for name in getattr(type(settings), "__struct_fields__", ()):
            _secret_values(name, getattr(settings, name, None), found, False)
        # Longest first, so a secret containing another is replaced whole.
        self.values = sorted((v for v in found if len(v) >= 4), key=len, reverse=True)

    def text(self, text: str) -> str:
        """Data (reprs, messages): ``password='...'`` fields and the secret values."""
        if _SECRET_FIELD.search(text):
            text = _SECRET_FIELD.sub(lambda m: m.group(1) + MASK, text)
        return self.values_in(text)

    def values_in(self, text: str) -> str:
        """Source code: only the secret values (a line naming a password is no secret)."""
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def named(self, name: str, value: str) -> str:
        return MASK if SECRET_NAME.search(name) else self.text(value)


def _secret_values(name: str, value: Any, found: set[str], secret: bool) -> None:
    secret = secret or SECRET_NAME.search(name) is not None
    if isinstance(value, str) and secret:
        found.add(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _secret_values(str(key), item, found, secret)
    elif isinstance(value, list | tuple):
        for item in value:
            _secret_values(name, item, found, secret)


class _SafeRepr(reprlib.Repr):
    """Bounded reprs: long containers and strings are cut, a failing ``__repr__`` is named."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 12
        self.maxstring = self.maxother = self.maxlong = 160

    def repr_instance(self, obj: Any, level: int) -> str:
        try:
            text = repr(obj)
        except Exception as exc:  # the page must survive any object
            return f"<{type(obj).__name__} object; repr() raised {type(exc).__name__}>"
        return text if len(text) <= self.maxother else text[: self.maxother - 3] + "..."


_repr = _SafeRepr()


def safe_repr(value: Any) -> str:
    try:
        text = _repr.repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} object; repr() raised {type(exc).__name__}>"
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 3] + "..."


def collect(request: Request, exc: BaseException, settings: Any) -> DebugInfo:
    mask = Masker(settings)
    errors = [_error(e, relation, mask) for e, relation in _chain(exc)]
    return DebugInfo(
        errors=errors,
        request=_request_lines(request, mask),
        headers=[(k, mask.named(k, v)) for k, v in request.headers.items()],
        query=[(k, mask.named(k, v)) for k, v in request.query_params.multi_items()],
        cookies=[(k, MASK) for k in _cookie_names(request)],
        body=_body_preview(request, mask),
        route=_route_lines(request, mask),
        app=_app_lines(request, settings),
    )


def _chain(exc: BaseException) -> Iterator[tuple[BaseException, str]]:
    """The exception, then what caused it (``raise ... from``) or happened while handling
    what (implicit context), as Python prints them, cycle-safe and bounded."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < MAX_CHAIN:
        seen.add(id(current))
        if current.__cause__ is not None:
            nxt, relation = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            nxt, relation = current.__context__, "context"
        else:
            nxt, relation = None, ""
        yield current, relation if nxt is not None and id(nxt) not in seen else ""
        current = nxt


def _error(exc: BaseException, relation: str, mask: Masker) -> ErrorInfo:
    try:
        message = str(exc)
    except Exception as error:
        message = f"<str() raised {type(error).__name__}>"
    frames = [
        _frame(frame, lineno, mask)
        for frame, lineno in list(traceback.walk_tb(exc.__traceback__))[-MAX_FRAMES:]
    ]
    return ErrorInfo(type(exc).__qualname__, mask.text(message), frames, relation)


def _frame(frame: Any, lineno: int, mask: Masker) -> Frame:
    code = frame.f_code
    filename = code.co_filename
    lines = linecache.getlines(filename, frame.f_globals)
    start = max(lineno - CONTEXT_LINES, 1)
    shown = [
        mask.values_in(line.rstrip("\n")) for line in lines[start - 1 : lineno + CONTEXT_LINES]
    ]
    names = list(frame.f_locals.items())[:MAX_LOCALS]
    local_values = [(str(k), mask.named(str(k), safe_repr(v))) for k, v in names]
    return Frame(filename, lineno, code.co_name, start, shown, local_values, _is_library(filename))


_PREFIXES = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
_FRAMEWORK = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _is_library(filename: str) -> bool:
    if filename.startswith((_FRAMEWORK, "<")):
        return True
    if "site-packages" in filename or "dist-packages" in filename:
        return True
    return filename.startswith(_PREFIXES) and "/lib/python" in filename


def _cookie_names(request: Request) -> list[str]:
    try:
        return list(request.cookies)
    except Exception:
        return []


def _request_lines(request: Request, mask: Masker) -> list[tuple[str, str]]:
    scope = request.scope
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    shown_query = "&".join(f"{k}={mask.named(k, v)}" for k, v in query)
    url = f"{request.base_url}{request.path}" + (f"?{shown_query}" if shown_query else "")
    client = request.client
    lines = [
        ("Method", request.method),
        ("URL", mask.text(url)),
        ("HTTP version", str(scope.get("http_version", "1.1"))),
        ("Client", f"{client[0]}:{client[1]}" if client else "unknown"),
    ]
    if request.path_params:
        params = ", ".join(f"{k}={safe_repr(v)}" for k, v in request.path_params.items())
        lines.append(("Path parameters", mask.text(params)))
    return lines


def _body_preview(request: Request, mask: Masker) -> str:
    """The first bytes of the body the handler read (none is read here: that would be I/O);
    fields of JSON and form bodies are masked by name."""
    body = request._body
    if body is None:
        return "(not read by the application)"
    if not body:
        return "(empty)"
    media = request.content_type
    text = body[:BODY_PREVIEW].decode("utf-8", "replace")
    if media == "application/x-www-form-urlencoded":
        text = urlencode([(k, mask.named(k, v)) for k, v in parse_qsl(text, True)])
    elif media == "application/json" or media.endswith("+json"):
        try:
            text = json.dumps(_masked_json(json.loads(body), mask), indent=2)[:BODY_PREVIEW]
        except (ValueError, RecursionError):
            pass
    elif not media.startswith("text/") and not text.isprintable():
        text = f"({len(body)} bytes of {media or 'unknown type'})"
    more = f"\n... ({len(body)} bytes in all)" if len(body) > BODY_PREVIEW else ""
    return mask.text(text) + more


def _masked_json(value: Any, mask: Masker) -> Any:
    if isinstance(value, dict):
        return {
            k: MASK if SECRET_NAME.search(str(k)) else _masked_json(v, mask)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked_json(v, mask) for v in value]
    return value


def _route_lines(request: Request, mask: Masker) -> list[tuple[str, str]]:
    route = _find_route(request)
    if route is None:
        return [("Route", "no route matched (the error came from middleware)")]
    handler = route.handler
    code = getattr(handler, "__code__", None) or getattr(
        getattr(handler, "__func__", None), "__code__", None
    )
    where = f"{code.co_filename}:{code.co_firstlineno}" if code is not None else "?"
    lines = [
        ("Route", f"{' '.join(route.methods)} {route.path}"),
        ("Name", route.name),
        ("Handler", f"{getattr(handler, '__module__', '?')}.{_qualname(handler)}"),
        ("Defined at", where),
    ]
    if route.options.get("tags"):
        lines.append(("Tags", ", ".join(route.options["tags"])))
    return lines


def _qualname(handler: Any) -> str:
    return str(getattr(handler, "__qualname__", type(handler).__qualname__))


def _find_route(request: Request) -> Any:
    """The route that served the request, looked up again (only after an error, in dev)."""
    app = request.scope.get("app")
    if app is None or not hasattr(app, "compiled"):
        return None
    found = app._tree.find(request.path) if hasattr(app, "_tree") else None
    if found is None:
        return None
    endpoint = found[0].get(request.method)
    for compiled in app.compiled:
        if compiled.endpoint is endpoint:
            return compiled.route
    # Wrapped (middleware, versions): fall back to the path and method.
    for compiled in app.compiled:
        route = compiled.route
        if request.method in getattr(route, "methods", ()) and _same_path(route.path, request):
            return route
    return None


def _same_path(template: str, request: Request) -> bool:
    parts, sent = template.strip("/").split("/"), request.path.strip("/").split("/")
    return len(parts) == len(sent) and all(
        p == s or p.startswith("{") for p, s in zip(parts, sent, strict=True)
    )


def _app_lines(request: Request, settings: Any) -> list[tuple[str, str]]:
    app = request.scope.get("app")
    try:
        version = metadata.version("bastion")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return [
        ("App", f"{getattr(app, 'title', '?')} {getattr(app, 'version', '')}".strip()),
        ("Profile", str(getattr(settings, "profile", "?"))),
        ("Bastion", version),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Platform", platform.platform(terse=True)),
    ]
