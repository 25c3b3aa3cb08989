"""Route lookup: one dict hit for static paths, a segment tree for the rest.

Built once when the app starts; ``find`` is the only thing that runs per request. Within a
node, static children win over parameters, parameters are tried in registration order
(typed converters reject what they cannot parse), and a ``path`` parameter comes last. Given
the request's method, a match without it gives way to a later match with it
(``POST /posts/{title}`` and ``DELETE /posts/{post_id:int}`` both answer), as routes
declared in order do in Starlette and Django.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from bastion.exceptions import ConfigurationError
from bastion.routing.converters import Converter
from bastion.routing.route import parse_path

T = TypeVar("T")
Match = tuple[dict[str, T], dict[str, Any]]


class _Node(Generic[T]):
    __slots__ = ("endpoints", "params", "rest", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node[T]] = {}
        self.params: list[tuple[str, Converter, _Node[T]]] = []
        self.rest: tuple[str, Converter, dict[str, T]] | None = None
        self.endpoints: dict[str, T] | None = None


class RouteTree(Generic[T]):
    """Maps (path, method) to an endpoint ``T``; knows nothing about what ``T`` is."""

    def __init__(self) -> None:
        #: Paths without parameters and their endpoints by method: one dict hit, which the
        #: app does itself before it asks ``find_dynamic``.
        self.static: dict[str, dict[str, T]] = {}
        self._root: _Node[T] = _Node()
        # While the root has only static children, a path whose first segment is none of
        # them misses without a walk (most 404s).
        self._root_static_only = True

    def add(
        self, path: str, methods: tuple[str, ...], endpoint: T, converters: dict[str, Converter]
    ) -> dict[str, T]:
        """Register ``endpoint`` for ``methods`` at ``path``; returns the path's method table.

        ``converters`` has the converter of every parameter in ``path``.
        """
        segments = parse_path(path)
        if all(kind == "static" for kind, *_ in segments):
            return self._put(self.static.setdefault(path, {}), path, methods, endpoint)
        node = self._root
        if segments[0][0] != "static":
            self._root_static_only = False
        for index, segment in enumerate(segments):
            if segment[0] == "static":
                node = node.static.setdefault(segment[1], _Node())
                continue
            name = segment[1]
            converter = converters[name]
            if converter.matches_rest:
                if index != len(segments) - 1:
                    raise ConfigurationError(
                        f"Route {path!r}: '{{{name}}}' takes the rest of the path, so it must "
                        "be the last segment"
                    )
                if node.rest is None:
                    node.rest = (name, converter, {})
                return self._put(node.rest[2], path, methods, endpoint)
            for existing_name, existing, child in node.params:
                if existing_name == name and existing is converter:
                    node = child
                    break
            else:
                child = _Node()
                node.params.append((name, converter, child))
                node = child
        if node.endpoints is None:
            node.endpoints = {}
        return self._put(node.endpoints, path, methods, endpoint)

    @staticmethod
    def _put(slot: dict[str, T], path: str, methods: tuple[str, ...], endpoint: T) -> dict[str, T]:
        for method in methods:
            if method in slot:
                raise ConfigurationError(f"Route {method} {path} is declared twice")
            slot[method] = endpoint
        return slot

    def find(self, path: str, method: str | None = None) -> Match[T] | None:
        """The endpoints by method and the converted path parameters, or None. With
        ``method``, the first match that has it, else the first match (a 405)."""
        endpoints = self.static.get(path)
        if endpoints is not None:
            return endpoints, {}
        return self.find_dynamic(path, method)

    def find_dynamic(self, path: str, method: str | None = None) -> Match[T] | None:
        """``find`` for a path that is not in ``static``."""
        parts = path[1:].split("/")
        if self._root_static_only and parts[0] not in self._root.static:
            return None
        params: dict[str, Any] = {}
        without: list[Match[T]] = []
        found = self._walk(self._root, parts, 0, params, method, without)
        if found is not None:
            return found, params
        return without[0] if without else None

    def _walk(
        self,
        node: _Node[T],
        parts: list[str],
        index: int,
        params: dict[str, Any],
        method: str | None,
        without: list[Match[T]],
    ) -> dict[str, T] | None:
        if index == len(parts):
            endpoints = node.endpoints
            if endpoints is None or method is None or method in endpoints:
                return endpoints
            return self._without_method(endpoints, params, without)
        part = parts[index]
        child = node.static.get(part)
        if child is not None:
            found = self._walk(child, parts, index + 1, params, method, without)
            if found is not None:
                return found
        for name, converter, child in node.params:
            try:
                params[name] = converter.convert(part)
            except ValueError:
                continue
            found = self._walk(child, parts, index + 1, params, method, without)
            if found is not None:
                return found
            del params[name]
        if node.rest is not None:
            name, converter, endpoints = node.rest
            rest = "/".join(parts[index:])
            try:
                params[name] = converter.convert(rest)
            except ValueError:
                return None
            if method is None or method in endpoints:
                return endpoints
            self._without_method(endpoints, params, without)
            del params[name]
        return None

    @staticmethod
    def _without_method(
        endpoints: dict[str, T], params: dict[str, Any], without: list[Match[T]]
    ) -> None:
        """A match that lacks the request's method: the first one is kept (with a copy of
        its parameters) for the 405, and the walk goes on."""
        if not without:
            without.append((endpoints, dict(params)))
