"""OpenAPI 3.1: the document built from compiled routes, and the /docs page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.app import App


def install_openapi_routes(app: App[Any]) -> None:
    """Placeholder until the document builder lands (same session)."""
