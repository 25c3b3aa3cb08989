"""Where a handler parameter comes from: ``Annotated[int, Query(ge=1, le=100)]``.

Unmarked parameters are placed by their type: a path template name → path, a scalar → query,
a struct/dataclass/TypedDict/pydantic model → JSON body. Markers move them elsewhere and add
constraints, which become both validation and OpenAPI.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Param:
    """Common options: an ``alias`` (the wire name), documentation, and value constraints."""

    location: ClassVar[str] = ""

    def __init__(
        self,
        *,
        alias: str | None = None,
        description: str | None = None,
        example: Any = None,
        deprecated: bool = False,
        include_in_schema: bool = True,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        multiple_of: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
    ) -> None:
        self.alias = alias
        self.description = description
        self.example = example
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        constraints = {
            "gt": gt,
            "ge": ge,
            "lt": lt,
            "le": le,
            "multiple_of": multiple_of,
            "min_length": min_length,
            "max_length": max_length,
            "pattern": pattern,
        }
        self.constraints = {k: v for k, v in constraints.items() if v is not None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.alias!r})"


class Path(Param):
    location = "path"


class Query(Param):
    location = "query"


class Header(Param):
    """A request header; ``x_token`` reads ``x-token`` unless an alias is given."""

    location = "header"


class Cookie(Param):
    location = "cookie"


class Body(Param):
    """The JSON body (implicit for structured types; explicit for e.g. ``list[int]``)."""

    location = "body"


class Form(Param):
    """A form field, or a whole struct bound from URL-encoded / multipart form data."""

    location = "form"


class File(Param):
    """An uploaded file from a multipart body (``UploadFile``)."""

    location = "form"
