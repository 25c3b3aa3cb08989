"""Static files under a mount: ``app.mount("/static", StaticFiles("static"), name="static")``.

Paths are resolved inside the directory and anything that would escape it (``..``, absolute
paths, NUL bytes, symlinks pointing outside) is a 404, the same answer as a missing file, so
nothing outside the directory can be probed.
"""

from __future__ import annotations

import os
from pathlib import Path

from bastion.exceptions import ConfigurationError, HTTPError, MethodNotAllowed, NotFound
from bastion.http.files import FileResponse
from bastion.http.response import ProblemResponse
from bastion.types import Receive, Scope, Send


class StaticFiles:
    """An ASGI app serving files from ``directory`` with caching headers."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        cache_control: str = "public, max-age=3600",
        follow_symlinks: bool = False,
    ) -> None:
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise ConfigurationError(
                f"StaticFiles directory {str(directory)!r} does not exist; create it or pass "
                "the right path (relative paths start from the current directory)"
            )
        self.html = html
        self.cache_control = cache_control
        self.follow_symlinks = follow_symlinks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            if scope["method"] not in ("GET", "HEAD"):
                raise MethodNotAllowed(["GET", "HEAD"])
            response = FileResponse(
                self.resolve(scope["path"]), headers={"cache-control": self.cache_control}
            )
            await response(scope, receive, send)
        except HTTPError as exc:
            await ProblemResponse(exc.problem(), exc.status_code, exc.headers or None)(
                scope, receive, send
            )

    def resolve(self, path: str) -> Path:
        """The file for a request path, or NotFound; never a path outside the directory."""
        relative = path.lstrip("/")
        if "\x00" in relative or "\\" in relative:
            raise NotFound("No such file")
        candidate = self.directory / relative
        target = candidate.resolve() if self.follow_symlinks else Path(os.path.normpath(candidate))
        if not target.is_relative_to(self.directory):
            raise NotFound("No such file")
        if not self.follow_symlinks and _has_symlink(self.directory, target):
            raise NotFound("No such file")
        if target.is_dir():
            index = target / "index.html"
            if self.html and index.is_file():
                return index
            raise NotFound("No such file")
        if not target.is_file():
            raise NotFound("No such file")
        return target


def _has_symlink(root: Path, target: Path) -> bool:
    current = target
    while current != root and current != current.parent:
        if current.is_symlink():
            return True
        current = current.parent
    return False
