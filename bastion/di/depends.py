"""The dependency marker: ``Annotated[Session, Depends(get_session)]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

Scope = Literal["request", "app"]


class Depends:
    """Ask for the result of ``dependency`` (a function, async function or generator).

    ``scope="request"`` (the default) calls it once per request (cached unless
    ``use_cache=False``); ``scope="app"`` calls it once when the app starts and tears it down
    on shutdown. Generators run their code after ``yield`` as teardown, also on errors.
    """

    __slots__ = ("dependency", "scope", "use_cache")

    def __init__(
        self, dependency: Callable[..., Any], *, scope: Scope = "request", use_cache: bool = True
    ) -> None:
        if scope not in ("request", "app"):
            raise ValueError(f"Depends scope must be 'request' or 'app', not {scope!r}")
        self.dependency = dependency
        self.scope = scope
        self.use_cache = use_cache

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name}, scope={self.scope!r})"
