"""The ``size`` query parameter both kinds of pagination share, and its bounds.

Bounds given to ``pages()``/``cursors()`` are in the parameter's schema, so validation and
OpenAPI show them; the settings' ``max_page_size``, known only once the app runs, is checked
when the request arrives and named in the parameter's description.
"""

from collections.abc import Callable
from typing import Annotated, Any

from bastion.exceptions import ConfigurationError, ValidationError
from bastion.http.request import Request
from bastion.params.markers import Query


def size_param(size: int | None, max_size: int | None) -> Any:
    """The annotation of ``size``, its explicit bounds included."""
    for name, value in (("size", size), ("max_size", max_size)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigurationError(f"pagination {name}={value!r}: use a whole number >= 1")
    if size is not None and max_size is not None and size > max_size:
        raise ConfigurationError(
            f"pagination size={size} is larger than max_size={max_size}: lower size or "
            "raise max_size"
        )
    limit = "max_size" if max_size is not None else "the settings' max_page_size"
    default = size if size is not None else "the settings' page_size"
    described = f"Items per page, at most {max_size or limit} (default {default})"
    return Annotated[int | None, Query(ge=1, le=max_size, description=described)]


def wanted_size(size: int | None, max_size: int | None) -> Callable[[Request, int | None], int]:
    """The page size a request gets: its own within the bounds, else the default."""

    def wanted(request: Request, asked: int | None) -> int:
        settings: Any = request.app.settings
        limit = max_size if max_size is not None else int(settings.max_page_size)
        if asked is None:
            return min(size if size is not None else int(settings.page_size), limit)
        if asked > limit:
            raise ValidationError(
                [{"field": "query.size", "reason": f"Expected a value <= {limit}"}]
            )
        return asked

    return wanted
