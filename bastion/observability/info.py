"""What is running: app and framework versions, the git commit, Python, and the settings with
every secret masked (so the endpoint can be shown to an operator without leaking keys).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.config import is_secret_name  # one rule for what counts as a secret

if TYPE_CHECKING:
    from bastion.app import App

MASK = "******"
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@")


def mask(name: str, value: Any) -> Any:
    """Hide values of secret-looking names, and passwords inside URLs anywhere."""
    if is_secret_name(name):
        return None if value is None else MASK
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", value)
    if isinstance(value, dict):
        return {k: mask(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(name, v) for v in value]
    return value


def masked_settings(settings: Any) -> dict[str, Any]:
    """The settings as a dict (subclass fields too), secrets masked."""
    values = msgspec.to_builtins(settings)
    return {name: mask(name, value) for name, value in values.items()}


def git_sha() -> str | None:
    """``BASTION_GIT_SHA`` (set it in the image at build time), else ``git rev-parse``."""
    for name in ("BASTION_GIT_SHA", "GIT_SHA", "SOURCE_COMMIT"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def framework_version() -> str:
    try:
        return metadata.version("bastion")
    except metadata.PackageNotFoundError:
        return "unknown"


class Info:
    """Facts gathered once at start-up, plus the uptime at each call."""

    def __init__(self, extra: dict[str, Any] | None = None) -> None:
        self.started = time.time()
        self.sha = git_sha()
        self.extra = dict(extra or {})

    def describe(self, app: App[Any]) -> dict[str, Any]:
        return {
            "app": {"title": app.title, "version": app.version, **self.extra},
            "bastion": {"version": framework_version()},
            "git": {"sha": self.sha},
            "python": {
                "version": platform.python_version(),
                "implementation": sys.implementation.name,
            },
            "process": {
                "pid": os.getpid(),
                "started": self.started,
                "uptime_seconds": round(time.time() - self.started, 1),
            },
            "settings": masked_settings(app.settings),
        }
