"""API versions: by URL prefix, by header, or by a media-type parameter, chosen per app.

``App(versioning=Versioning(["1", Version("2", deprecated=..., sunset=...), "3"], by=...))``
and ``@app.get("/items", versions=...)`` (one name, several, or ``VersionRange``) or
``Router(versions=...)``. Routes without ``versions`` are version-neutral (health, docs).

Everything is decided in ``App._build``: ``expand`` turns each versioned route into one route
per version (under ``/v2`` with the prefix strategy), deprecated versions' endpoints are
wrapped to add ``Deprecation`` (RFC 9745) and ``Sunset`` (RFC 8594), and with the header and
media-type strategies the versions of one path and method share a single dispatcher: a header
read and a dict hit. Apps without ``versioning`` run none of this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any, Literal

from bastion.exceptions import BadRequest, ConfigurationError, HTTPError, NotAcceptable, NotFound
from bastion.http.headers import raw_header
from bastion.http.request import Request
from bastion.http.response import ProblemResponse, Response
from bastion.routing.converters import Converter
from bastion.routing.route import Mount, Route, WebSocketRoute
from bastion.types import Endpoint

Strategy = Literal["prefix", "header", "media_type"]
Item = Route | WebSocketRoute | Mount
_VERSION_PARAM = re.compile(r";\s*version\s*=\s*\"?([^\s,;\"]+)", re.I)


@dataclass(frozen=True)
class Version:
    """A version's name and, once it is on its way out, when it was (or will be) deprecated
    and when it stops answering. ``link`` points at its migration guide."""

    name: str
    deprecated: date | datetime | None = None
    sunset: date | datetime | None = None
    link: str | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        found = []
        if self.deprecated is not None:
            found.append((b"deprecation", f"@{int(_moment(self.deprecated).timestamp())}".encode()))
        if self.sunset is not None:
            found.append((b"sunset", format_datetime(_moment(self.sunset), usegmt=True).encode()))
        if self.link is not None and found:
            rel = "deprecation" if self.deprecated is not None else "sunset"
            found.append((b"link", f'<{self.link}>; rel="{rel}"'.encode("latin-1")))
        return found


def _moment(when: date | datetime) -> datetime:
    if isinstance(when, datetime):
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return datetime(when.year, when.month, when.day, tzinfo=UTC)


@dataclass(frozen=True)
class VersionRange:
    """The versions from ``since`` to ``until`` (both included; None is open), in the order
    the app declares them: ``VersionRange(since="2")`` is 2 and every later version."""

    since: str | None = None
    until: str | None = None


Versions = str | Sequence[str] | VersionRange


class Versioning:
    """How an app tells versions apart. ``by``: ``"prefix"`` (``/v2/items``, the template
    ``prefix`` with ``{version}``), ``"header"`` (``API-Version: 2``) or ``"media_type"``
    (``Accept: application/json; version=2``). ``default``: the version of requests that name
    none (header and media type); None means the latest. Versions are listed oldest first."""

    def __init__(
        self,
        versions: Sequence[Version | str],
        *,
        by: Strategy = "prefix",
        header: str = "API-Version",
        prefix: str = "/v{version}",
        default: str | None = None,
    ) -> None:
        self.versions = [v if isinstance(v, Version) else Version(v) for v in versions]
        self.names = [v.name for v in self.versions]
        if not self.names:
            raise ConfigurationError("Versioning([...]) needs at least one version, e.g. ['1']")
        if len(set(self.names)) != len(self.names):
            raise ConfigurationError(f"Versioning lists a version twice: {self.names}")
        if by not in ("prefix", "header", "media_type"):
            raise ConfigurationError(
                f"Versioning(by={by!r}): use 'prefix', 'header' or 'media_type'"
            )
        if by == "prefix" and (
            prefix.count("{version}") != 1 or not prefix.startswith("/") or prefix.endswith("/")
        ):
            raise ConfigurationError(
                f"Versioning(prefix={prefix!r}) must start with '/', hold '{{version}}' once and "
                "not end with '/', e.g. '/v{version}'"
            )
        if default is not None and default not in self.names:
            raise ConfigurationError(
                f"Versioning(default={default!r}) is not one of the versions {self.names}"
            )
        self.by = by
        self.header = header
        self.prefix = prefix
        self.default = default if default is not None else self.names[-1]
        self.by_name = {v.name: v for v in self.versions}
        before, _, after = prefix.partition("{version}")
        self._prefix_re = re.compile(re.escape(before) + r"([^/]+)" + re.escape(after) + "(/.*)?$")
        self._groups: dict[tuple[str, str], dict[str, tuple[Endpoint, dict[str, Converter]]]] = {}

    # -- start-up ------------------------------------------------------------------------------
    def resolve(self, versions: Versions, where: str) -> list[str]:
        """A route's ``versions=`` as names, checked against the app's list."""
        names = self.names
        if isinstance(versions, VersionRange):
            for bound in (versions.since, versions.until):
                if bound is not None and bound not in names:
                    raise ConfigurationError(_unknown(where, bound, names))
            start = names.index(versions.since) if versions.since is not None else 0
            end = names.index(versions.until) + 1 if versions.until is not None else len(names)
            chosen = names[start:end]
        else:
            chosen = [versions] if isinstance(versions, str) else list(versions)
            for name in chosen:
                if name not in names:
                    raise ConfigurationError(_unknown(where, name, names))
        if not chosen:
            raise ConfigurationError(f"{where}: versions={versions!r} names no version")
        return chosen

    def expand(self, items: list[Item]) -> list[Item]:
        """One route per version (its ``versions`` option then names that one only)."""
        self._groups = {}
        result: list[Item] = []
        for item in items:
            if isinstance(item, Mount) or item.options.get("versions") is None:
                result.append(item)
                continue
            where, versions = f"route {item.path}", item.options["versions"]
            if not isinstance(item, Route):
                raise ConfigurationError(f"{where}: WebSocket routes cannot be versioned")
            for name in self.resolve(versions, where):
                options = dict(item.options)
                options["versions"] = (name,)
                path = item.path
                if self.by == "prefix":
                    base = self.prefix.replace("{version}", name)
                    path = base if path == "/" else base + path
                result.append(Route(path, item.methods, item.handler, options))  # type: ignore[arg-type]
        return result

    def endpoint(
        self, route: Route, endpoint: Endpoint, converters: dict[str, Converter]
    ) -> Endpoint | None:
        """The endpoint to put in the tree for a versioned route; None when it waits for its
        path's dispatcher (header and media-type strategies)."""
        version = self.by_name[route.options["versions"][0]]
        headers = version.headers()
        if headers:
            endpoint = _with_headers(endpoint, headers)
        if self.by == "prefix":
            return endpoint
        for method in route.methods:
            group = self._groups.setdefault((route.path, method), {})
            if group and next(iter(group.values()))[1] != converters:
                raise ConfigurationError(
                    f"route {method} {route.path}: its versions convert the path parameters "
                    "differently; declare them in the path ('{id:int}') so they agree"
                )
            group[version.name] = (endpoint, converters)
        return None

    def dispatchers(self) -> list[tuple[str, str, Endpoint, dict[str, Converter]]]:
        """Per path and method, one endpoint choosing among the versions that serve it."""
        found = []
        for (path, method), group in self._groups.items():
            table = {name: endpoint for name, (endpoint, _) in group.items()}
            converters = next(iter(group.values()))[1]
            found.append((path, method, self._dispatcher(path, method, table), converters))
        return found

    def _dispatcher(self, path: str, method: str, table: dict[str, Endpoint]) -> Endpoint:
        read = self._reader()
        vary = (b"vary", b"accept" if self.by == "media_type" else self.header.lower().encode())
        refuse = self._refusal
        served = [name for name in self.names if name in table]

        async def by_version(request: Request) -> Response:
            version = read(request)
            endpoint = table.get(version)
            if endpoint is None:
                return refuse(version, f"{method} {path}", served)
            response = await endpoint(request)
            response.raw_headers.append(vary)
            return response

        return by_version

    def _reader(self) -> Any:
        default = self.default
        if self.by == "header":
            name = self.header.lower().encode("latin-1")

            def from_header(request: Request) -> str:
                value = raw_header(request.scope["headers"], name)
                return default if value is None else value.decode("latin-1").strip()

            return from_header

        def from_media_type(request: Request) -> str:
            accept = raw_header(request.scope["headers"], b"accept")
            if accept is None or b"version" not in accept:
                return default
            found = _VERSION_PARAM.search(accept.decode("latin-1"))
            return default if found is None else found.group(1)

        return from_media_type

    # -- refusals (off the hot path: only for requests naming a version they cannot have) -----
    def _refusal(self, version: str, operation: str, served: list[str]) -> Response:
        if version not in self.by_name:
            return _problem(self.unknown(version))
        return _problem(
            NotFound(
                f"{operation} is not in API version {version}; it is in versions "
                f"{', '.join(served)}",
                extra={"version": version, "versions": served},
            )
        )

    def how(self, version: str) -> str:
        if self.by == "header":
            return f"send the header {self.header}: {version}"
        if self.by == "media_type":
            return f"send Accept: application/json; version={version}"
        return f"use the path prefix {self.prefix.replace('{version}', version)}"

    def unknown(self, version: str) -> HTTPError:
        listed = ", ".join(self.names)
        detail = (
            f"API version {version!r} does not exist; the versions are {listed} "
            f"({self.how(self.names[-1])} for the latest)"
        )
        extra = {"version": version, "versions": self.names}
        if self.by == "header":
            return BadRequest(detail, extra=extra)
        if self.by == "media_type":
            return NotAcceptable(detail, extra=extra)
        return NotFound(detail, extra=extra)

    def unmatched_prefix(self, path: str, exists: Any) -> Response | None:
        """For a 404 under the prefix strategy: a problem naming the versions when the path
        names an unknown version (or a version without this path) of an existing route."""
        match = self._prefix_re.match(path)
        if match is None:
            return None
        version, rest = match.group(1), match.group(2) or ""
        elsewhere = [
            name
            for name in self.names
            if name != version and exists(self.prefix.replace("{version}", name) + rest)
        ]
        if not elsewhere:
            return None
        if version not in self.by_name:
            return _problem(self.unknown(version))
        return _problem(
            NotFound(
                f"{rest or '/'} is not in API version {version}; it is in versions "
                f"{', '.join(elsewhere)}",
                extra={"version": version, "versions": elsewhere},
            )
        )


def _unknown(where: str, name: str, names: list[str]) -> str:
    return (
        f"{where}: versions= names {name!r}, which is not one of the app's versions "
        f"{names}; add it to Versioning([...]) or fix the name"
    )


def _with_headers(endpoint: Endpoint, headers: list[tuple[bytes, bytes]]) -> Endpoint:
    async def deprecated(request: Request) -> Response:
        response = await endpoint(request)
        response.raw_headers.extend(headers)
        return response

    return deprecated


def _problem(error: HTTPError) -> Response:
    return ProblemResponse(error.problem(), error.status_code)
