"""Log levels changed at run time, in every worker process.

A change lands in the one worker that served the request; it is also written to
``log-levels.json`` in the folder ``bastion serve`` shares with its workers
(``BASTION_RUNTIME_DIR``), and every worker applies that file within a second.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from bastion.exceptions import ValidationError

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
ROOT = "root"


def _logger(name: str) -> logging.Logger:
    return logging.getLogger() if name == ROOT else logging.getLogger(name)


def describe(name: str) -> dict[str, Any]:
    logger = _logger(name)
    configured = logging.getLevelName(logger.level) if logger.level else None
    return {"configured": configured, "effective": logging.getLevelName(logger.getEffectiveLevel())}


def describe_all() -> dict[str, Any]:
    """Like Spring's ``/actuator/loggers``: the levels, then every known logger."""
    names = sorted(
        name
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    )
    return {"levels": list(LEVELS), "loggers": {n: describe(n) for n in [ROOT, *names]}}


def parse_level(value: Any) -> str | None:
    """``"debug"`` → ``"DEBUG"``; ``None`` resets the logger to inherit its parent's level."""
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in LEVELS:
        return value.upper()
    raise ValidationError(
        [{"field": "level", "reason": f"Expected one of {', '.join(LEVELS)} or null"}],
        "Unknown log level",
    )


def apply(name: str, level: str | None) -> None:
    _logger(name).setLevel(level or logging.NOTSET)


class SharedLevels:
    """The levels set through the endpoint, shared by the workers through one file."""

    def __init__(self, folder: str | None = None) -> None:
        folder = folder or os.environ.get("BASTION_RUNTIME_DIR")
        self.path = Path(folder, "log-levels.json") if folder else None
        self._seen: int | None = None

    def set(self, name: str, level: str | None) -> None:
        apply(name, level)
        if self.path is None:
            return
        levels = _read(self.path)
        levels[name] = level
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(levels))
        os.replace(temporary, self.path)  # atomic: a reader never sees half a file

    def sync(self) -> None:
        """Apply the file if it changed since the last look (cheap: one ``stat``)."""
        if self.path is None:
            return
        try:
            changed = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if changed == self._seen:
            return
        self._seen = changed
        for name, level in _read(self.path).items():
            apply(name, level)


def _read(path: Path) -> dict[str, str | None]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
