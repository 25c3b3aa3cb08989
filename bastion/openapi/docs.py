"""The interactive documentation page: Swagger UI 5 (the first that reads OpenAPI 3.1, which
Bastion's documents are), vendored in ``swagger_ui/`` from npm's swagger-ui-dist with its
licence (Apache 2.0).

Nothing is fetched from a CDN: the page loads its scripts and styles from the app itself.
"""

from __future__ import annotations

import html
import json
import mimetypes
from collections.abc import Sequence
from pathlib import Path

from bastion.exceptions import NotFound
from bastion.http.response import Response

#: The only files served from the bundle: an allow-list, so no path can reach anything else.
ASSETS = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
)


def swagger_ui_dir() -> Path:
    return Path(__file__).resolve().parent / "swagger_ui"


def docs_page(
    title: str, openapi_url: str, assets_url: str, urls: Sequence[tuple[str, str]] = ()
) -> str:
    """The page; ``urls`` (name, document URL) adds Swagger UI's document selector (one
    document per API version)."""
    title, openapi_url, assets_url = (
        html.escape(v, quote=True) for v in (title, openapi_url, assets_url)
    )
    documents = [{"name": name, "url": url} for name, url in urls]
    # JSON inside a script: '<' escaped so no value can close the element.
    selector = (
        "urls: " + json.dumps(documents).replace("<", "\\u003c") + ",\n      " if documents else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · API docs</title>
  <link rel="stylesheet" href="{assets_url}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{assets_url}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets_url}/swagger-ui-bundle.js"></script>
  <script src="{assets_url}/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{openapi_url}",
      {selector}
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      validatorUrl: null
    }});
  </script>
</body>
</html>"""


class AssetCache:
    """Reads each allowed asset once; answers 404 for any other name."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str]] = {}

    def response(self, name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"No documentation asset named {name!r}")
        if name not in self._files:
            path = swagger_ui_dir() / name
            media = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self._files[name] = (path.read_bytes(), media)
        body, media = self._files[name]
        headers = {"content-type": media, "cache-control": "public, max-age=86400"}
        return Response(body, 200, headers)
