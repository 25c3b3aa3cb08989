"""OpenAPI 3.1: the document built from compiled routes, and the offline ``/docs`` page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.http.request import Request
from bastion.http.response import HTMLResponse, JSONResponse, Response
from bastion.openapi.docs import AssetCache, docs_page
from bastion.openapi.document import build_document

if TYPE_CHECKING:
    from bastion.app import App

__all__ = ["build_document", "install_openapi_routes", "version_document_url"]


def install_openapi_routes(app: App[Any]) -> None:
    """Add ``/openapi.json`` and ``/docs`` (paths from settings; None turns each off).

    Called on every build; the routes are added once, and the document is rebuilt lazily
    after each build so it always matches the routes being served.
    """
    app.openapi_document = None
    app.openapi_versions.clear()
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

    versions = app.versioning.names if app.versioning is not None else []
    for version in versions:
        _version_document_route(app, openapi_url, version)

    docs_url = app.settings.docs_url
    if not docs_url:
        return
    assets = AssetCache()
    default = app.versioning.default if app.versioning is not None else None

    @app.router.get(docs_url, include_in_schema=False, name="docs")
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        # One document per API version, the default one shown first (Swagger UI's selector).
        urls = [(f"v{v}", root + version_document_url(openapi_url, v)) for v in versions]
        urls.sort(key=lambda u: u[0] != f"v{default}")
        return HTMLResponse(
            docs_page(app.title, root + openapi_url, f"{root}{docs_url}/assets", urls)
        )

    @app.router.get(docs_url + "/assets/{name}", include_in_schema=False, name="docs_asset")
    async def docs_asset(name: str) -> Response:
        return assets.response(name)


def version_document_url(openapi_url: str, version: str) -> str:
    """``/openapi.json`` → ``/openapi/2.json``: where one API version's document is."""
    stem, dot, suffix = openapi_url.rpartition(".")
    return f"{stem}/{version}.{suffix}" if dot else f"{openapi_url}/{version}"


def _version_document_route(app: App[Any], openapi_url: str, version: str) -> None:
    @app.router.get(
        version_document_url(openapi_url, version),
        include_in_schema=False,
        name=f"openapi_{version}",
    )
    async def openapi_version_json() -> Response:
        body = app.openapi_versions.get(version)
        if body is None:
            body = app.openapi_versions[version] = JSONResponse(build_document(app, version)).body
        return Response(body, 200, {"content-type": "application/json"})
