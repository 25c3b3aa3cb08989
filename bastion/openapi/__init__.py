"""OpenAPI 3.1: the document built from compiled routes, and the offline ``/docs`` page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.http.request import Request
from bastion.http.response import HTMLResponse, JSONResponse, Response
from bastion.openapi.docs import AssetCache, docs_page
from bastion.openapi.document import build_document

if TYPE_CHECKING:
    from bastion.app import App

__all__ = ["build_document", "install_openapi_routes"]


def install_openapi_routes(app: App[Any]) -> None:
    """Add ``/openapi.json`` and ``/docs`` (paths from settings; None turns each off).

    Called on every build; the routes are added once, and the document is rebuilt lazily
    after each build so it always matches the routes being served.
    """
    app.openapi_document = None
    if app.openapi_installed:
        return
    app.openapi_installed = True
    openapi_url = app.settings.openapi_url
    if not openapi_url:
        return

    @app.router.get(openapi_url, include_in_schema=False, name="openapi")
    async def openapi_json() -> Response:
        if app.openapi_document is None:
            app.openapi_document = JSONResponse(build_document(app)).body
        return Response(app.openapi_document, 200, {"content-type": "application/json"})

    docs_url = app.settings.docs_url
    if not docs_url:
        return
    assets = AssetCache()

    @app.router.get(docs_url, include_in_schema=False, name="docs")
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(docs_page(app.title, root + openapi_url, f"{root}{docs_url}/assets"))

    @app.router.get(docs_url + "/assets/{name}", include_in_schema=False, name="docs_asset")
    async def docs_asset(name: str) -> Response:
        return assets.response(name)
