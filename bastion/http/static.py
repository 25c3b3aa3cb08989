"""Static files under a mount: ``app.mount("/static", StaticFiles("static"), name="static")``.

A request path is checked before it touches the disk: ``..`` segments (also when they arrived
percent-encoded, since the server decodes the path), backslashes and NUL bytes are refused,
and a leading ``/`` never makes a path absolute. What is left is resolved inside the
directory; a symlink whose target lies outside it is refused unless ``follow_symlinks=True``.
Every refusal is the same 404 as a missing file, so nothing outside can be probed.

Dotfiles are served like any other file (``.well-known/`` needs them): keep secrets out of a
public directory. Each file is sent by ``FileResponse``, so validators, 304 and ranges apply.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import anyio.to_thread

from bastion.exceptions import ConfigurationError, HTTPError, MethodNotAllowed, NotFound
from bastion.http.files import FileResponse
from bastion.http.response import ProblemResponse, RedirectResponse, Response
from bastion.types import Receive, Scope, Send

_METHODS = ("GET", "HEAD")
_REDIRECT: Literal["redirect"] = "redirect"
_MISSING = "No such file"


class StaticFiles:
    """An ASGI app serving the files under ``directory`` (GET and HEAD only).

    ``html=True`` serves ``index.html`` for a directory (redirecting ``/docs`` to ``/docs/``
    so relative links work); ``cache_control`` is sent with every file (None to leave it out).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        cache_control: str | None = "public, max-age=3600",
        follow_symlinks: bool = False,
    ) -> None:
        path = Path(directory)
        if not path.exists():
            raise ConfigurationError(
                f"StaticFiles directory {str(directory)!r} does not exist (looked in "
                f"{path.absolute()}); create it or pass the right path, e.g. "
                "StaticFiles(Path(__file__).parent / 'static')"
            )
        if not path.is_dir():
            raise ConfigurationError(
                f"StaticFiles directory {str(directory)!r} is a file, not a directory; pass "
                "the folder that holds the files to serve"
            )
        self.directory = path.resolve()
        self.html = html
        self.headers = {"cache-control": cache_control} if cache_control else None
        self.follow_symlinks = follow_symlinks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] != "http":
            return
        try:
            if scope["method"] not in _METHODS:
                raise MethodNotAllowed(_METHODS)
            response = await self.lookup(scope)
        except HTTPError as exc:
            response = ProblemResponse(
                exc.problem(), status_code=exc.status_code, headers=exc.headers
            )
        await response(scope, receive, send)

    async def lookup(self, scope: Scope) -> Response:
        """A file, or a redirect adding a directory's missing ``/``; raises NotFound."""
        path: str = scope["path"]
        parts = _safe_parts(path)
        slash = path.endswith("/")
        if not parts and not scope.get("raw_path", b"/").endswith(b"/"):
            slash = False  # the mount itself (``/static``) was asked for, without its slash
        found = await anyio.to_thread.run_sync(self._find, parts, slash)
        if found is None:
            raise NotFound(_MISSING)
        if isinstance(found, str):
            location = quote(scope.get("root_path", "")) + "".join(f"/{quote(p)}" for p in parts)
            query = scope.get("query_string", b"").decode("latin-1")
            return RedirectResponse(location + "/" + ("?" + query if query else ""), 307)
        target, info = found
        return FileResponse(target, headers=self.headers, stat_result=info)

    def _find(
        self, parts: list[str], slash: bool
    ) -> tuple[Path, os.stat_result] | Literal["redirect"] | None:
        """The file to send and its stat, ``_REDIRECT`` for a directory asked for without its
        ``/``, or None when there is nothing to serve. Runs in a worker thread."""
        try:
            target = self._inside(self.directory.joinpath(*parts))
            if target is not None and target.is_dir():
                if not self.html:
                    return None
                if not slash:
                    return _REDIRECT
                target = self._inside(target / "index.html")
                slash = False
            if target is None or slash:
                return None
            info = target.stat()
        except (OSError, RuntimeError):  # too long, no permission, a symlink loop: nothing
            return None
        return (target, info) if stat.S_ISREG(info.st_mode) else None

    def _inside(self, path: Path) -> Path | None:
        """``path`` with symlinks resolved, or None if that leaves the directory (only when
        ``follow_symlinks`` is off: then the operator has vouched for every link)."""
        if self.follow_symlinks:
            return path
        real = path.resolve()
        return real if real.is_relative_to(self.directory) else None


def _safe_parts(path: str) -> list[str]:
    """The path's segments, or NotFound for anything that could step outside the root."""
    if "\x00" in path or "\\" in path:
        raise NotFound(_MISSING)
    parts = [part for part in path.split("/") if part and part != "."]
    if ".." in parts:
        raise NotFound(_MISSING)
    return parts
