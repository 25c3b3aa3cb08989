"""Reverse routing: ``url_path_for("user", user_id=1)`` → ``/users/1``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bastion.exceptions import BastionError
from bastion.routing.converters import Converter


class NoRouteFound(BastionError, LookupError):
    """``url_for`` was asked for a name no route has, or without its parameters."""


class URLBuilder:
    """Built at start-up from the named routes and mounts."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[str, dict[str, Converter]]] = {}

    def add(self, name: str, path: str, converters: dict[str, Converter]) -> None:
        # First declaration wins, like Flask: a name may cover several methods of one path.
        self._routes.setdefault(name, (path, converters))

    def build(self, name: str, params: dict[str, Any]) -> str:
        try:
            template, converters = self._routes[name]
        except KeyError:
            raise NoRouteFound(f"No route is named {name!r}") from None
        missing = set(converters) - set(params)
        if missing:
            raise NoRouteFound(f"Route {name!r} needs the parameters: {', '.join(sorted(missing))}")
        path = template
        for key, converter in converters.items():
            text = converter.to_string(params[key])
            safe = "/" if converter.matches_rest else ""
            for pattern in (f"{{{key}}}", f"{{{key}:"):
                start = path.find(pattern)
                if start >= 0:
                    end = path.index("}", start)
                    path = path[:start] + quote(text, safe=safe) + path[end + 1 :]
                    break
        return path

    def names(self) -> list[str]:
        return list(self._routes)
