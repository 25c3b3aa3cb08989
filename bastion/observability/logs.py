"""Structured logs: one JSON object per line in production, readable colour in development.

Every record logged while a request is handled carries its request id (from the
``RequestId`` middleware), so a search for one id finds every line of that request.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Literal, TextIO

import msgspec

from bastion.http.request import Request
from bastion.middleware.errors import request_id_of

LogFormat = Literal["json", "dev", "auto"]
#: The request being handled by this task, for log records emitted during it.
current_request: ContextVar[Request | None] = ContextVar("bastion_request", default=None)
access_logger = logging.getLogger("bastion.access")

_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "request_id", "color_message", "taskName"}
)
_COLOURS = {"DEBUG": "36", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}
_encoder = msgspec.json.Encoder(enc_hook=str)


class RequestContext(logging.Filter):
    """Adds ``record.request_id`` from the request being handled (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request = current_request.get()
            record.request_id = request_id_of(request) if request is not None else None
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed in ``extra=``: every attribute a plain record does not have."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JSONFormatter(logging.Formatter):
    """``{"time": …, "level": "INFO", "logger": …, "message": …, "request_id": …, …}``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            data["request_id"] = request_id
        data.update(extra_fields(record))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(data).decode()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"


class DevFormatter(logging.Formatter):
    """``12:00:01 INFO  bastion.access  GET /items/3 200 1.2 ms  [request id]``, coloured."""

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = self._paint(_COLOURS.get(record.levelname, "0"), f"{record.levelname:<7}")
        line = f"{self._paint('2', clock)} {level} {self._paint('35', record.name)}  "
        line += record.getMessage()
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line += "  " + self._paint("2", f"[{request_id}]")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    format: LogFormat = "auto",
    level: str = "info",
    *,
    profile: str = "dev",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger (uvicorn's too) to one handler on the root logger.

    ``auto`` picks JSON in the ``prod`` profile and colour elsewhere. Calling it again
    replaces the handler it installed before, so restarting an app does not double lines.
    """
    chosen = ("json" if profile == "prod" else "dev") if format == "auto" else format
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.set_name("bastion")
    handler.addFilter(RequestContext())
    colour = chosen == "dev" and hasattr(out, "isatty") and out.isatty()
    handler.setFormatter(JSONFormatter() if chosen == "json" else DevFormatter(colour))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "bastion"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if level != "trace" else "DEBUG")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "_granian", "granian.access"):
        server_logger = logging.getLogger(name)
        if server_logger.handlers:  # the server's own format: send it through ours instead
            server_logger.handlers.clear()
            server_logger.propagate = True
    return handler


def log_request(
    request: Request, route: str, status: int, seconds: float, level: int = logging.INFO
) -> None:
    """The access line: method, path, route template, status and duration."""
    if not access_logger.isEnabledFor(level):
        return
    scope = request.scope
    duration_ms = round(seconds * 1000, 2)
    client = scope.get("client")
    access_logger.log(
        level,
        "%s %s %s %.2f ms",
        scope["method"],
        scope["path"],
        status,
        duration_ms,
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "client": client[0] if client else None,
            "request_id": request_id_of(request),
        },
    )
